package workload

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startServer runs a real, standalone nats-server on a loopback port.
func startServer(t *testing.T) *nats.Conn {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func testClient(t *testing.T, nc *nats.Conn) *client {
	t.Helper()
	rs, err := newReplies(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &client{nc: nc, replies: rs}
}

// Two servers answering one publish, as a deposed stream leader and its
// successor do: the first answer decides the outcome, the second is kept
// in the history as an extra reply of that operation.
func TestPublishRecordsASecondReply(t *testing.T) {
	nc := startServer(t)
	refusal := []byte(`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 2148"},"stream":"s"}`)
	ack := []byte(`{"stream":"s","seq":2694}`)
	stale, _ := nc.Subscribe("s.x", func(m *nats.Msg) { _ = m.Respond(refusal) })
	leader, _ := nc.Subscribe("s.x", func(m *nats.Msg) {
		time.Sleep(20 * time.Millisecond)
		_ = m.Respond(ack)
	})
	defer stale.Unsubscribe()
	defer leader.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	rec := history.NewRecorder(&buf)
	c := testClient(t, nc)
	inv := rec.Record(history.Event{Type: history.Invoke, Process: 0, F: history.FAppend})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.publish(ctx, rec, inv.Index, nats.NewMsg("s.x"))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence || !rejected(err) {
		t.Fatalf("publish returned %v, want the first answer's wrong-last-sequence refusal", err)
	}
	rec.Record(history.Event{Type: history.Fail, Process: 0, F: history.FAppend, Error: err.Error()})

	deadline := time.Now().Add(5 * time.Second)
	// The extra reply is the only ok event; counts are safe to poll.
	for _, ok, _, _ := rec.Counts(); ok == 0 && time.Now().Before(deadline); _, ok, _, _ = rec.Counts() {
		time.Sleep(10 * time.Millisecond)
	}
	c.replies.stop()
	h, err := history.Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var extra []history.Event
	for _, e := range h.Events {
		if e.Process == history.Observer {
			extra = append(extra, e)
		}
	}
	if len(extra) != 1 || extra[0].F != history.FReply || extra[0].Of == nil || *extra[0].Of != inv.Index ||
		extra[0].Type != history.OK || extra[0].Rev != 2694 {
		t.Fatalf("extra replies %+v, want one acknowledgement at 2694 of op %d\n%s", extra, inv.Index, buf.String())
	}
}

// Nobody listening: "no responders" is retried as the client library does,
// then reported as the library reports it; nothing is recorded as a reply.
func TestPublishNoResponders(t *testing.T) {
	nc := startServer(t)
	var buf bytes.Buffer
	rec := history.NewRecorder(&buf)
	c := testClient(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	began := time.Now()
	_, err := c.publish(ctx, rec, 0, nats.NewMsg("nobody.listens"))
	if !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("publish returned %v, want %v", err, jetstream.ErrNoStreamResponse)
	}
	if waited := time.Since(began); waited < noResponderRetries*noResponderWait {
		t.Fatalf("gave up after %v, want %d retries %v apart", waited, noResponderRetries, noResponderWait)
	}
	if buf.Len() != 0 {
		t.Fatalf("history holds %s, want nothing", buf.String())
	}
}
