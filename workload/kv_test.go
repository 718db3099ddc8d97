package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestKeysRetireAfterOpsPerKey(t *testing.T) {
	r := newKeyRing(2, 3)
	rng := rand.New(rand.NewPCG(1, 2))
	uses := map[string]int{}
	for range 60 {
		uses[r.next(rng)]++
	}
	for k, n := range uses {
		if n > 3 {
			t.Fatalf("key %s used %d times, want at most 3", k, n)
		}
	}
	if got := len(r.all()); got < 20 {
		t.Fatalf("%d keys handed out for 60 ops at 3 per key, want at least 20", got)
	}
	never := newKeyRing(2, 0)
	for range 50 {
		never.next(rng)
	}
	if got := len(never.all()); got != 2 {
		t.Fatalf("ops-per-key 0 retired keys: %d handed out", got)
	}
}

func TestOnlyRefusalsAreFailures(t *testing.T) {
	for _, tc := range []struct {
		err  error
		fail bool
	}{
		{&jetstream.APIError{Code: 400, ErrorCode: 10071, Description: "wrong last sequence: 5"}, true},
		{fmt.Errorf("wrapped: %w", &jetstream.APIError{Code: 400, ErrorCode: 10164}), true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10163}, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, false},
		{context.DeadlineExceeded, false},
		{errors.New("nats: connection closed"), false},
		{jetstream.ErrNoStreamResponse, false},
	} {
		if got := rejected(tc.err); got != tc.fail {
			t.Errorf("rejected(%v) = %v, want %v", tc.err, got, tc.fail)
		}
	}
}

func TestDeleteMarkersReadAsAbsent(t *testing.T) {
	if !isDeleteMarker([]byte("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n")) || isDeleteMarker([]byte("NATS/1.0\r\nX: y\r\n\r\n")) {
		t.Fatal("delete markers misread")
	}
}
