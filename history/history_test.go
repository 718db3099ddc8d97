package history

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRecordAndLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	rec, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				rec.Record(Event{Type: Invoke, Process: Process(p), F: FWrite, Key: "k", Value: Str("v")})
				rec.Record(Event{Type: OK, Process: Process(p), F: FWrite, Key: "k", Value: Str("v"), Rev: 3})
			}
		}()
	}
	wg.Wait()
	rec.Record(Event{Type: Info, Process: Nemesis, F: "partition", Fault: &Fault{Action: FaultStart, Groups: [][]string{{"n1"}, {"n2"}}}})
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != 801 || h.Truncated {
		t.Fatalf("loaded %d events (truncated %v), want 801", len(h.Events), h.Truncated)
	}
	for i, e := range h.Events {
		if e.Index != i {
			t.Fatalf("event %d has index %d", i, e.Index)
		}
		if i > 0 && e.Time < h.Events[i-1].Time {
			t.Fatalf("time goes backwards at %d", i)
		}
	}
	last := h.Events[800]
	if last.Process != Nemesis || last.Fault == nil || last.Fault.Groups[0][0] != "n1" {
		t.Fatalf("nemesis event did not survive: %+v", last)
	}
	if _, ok, _, _ := rec.Counts(); ok != 400 {
		t.Fatalf("counted %d ok events, want 400", ok)
	}
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte(`"process":"nemesis"`)) {
		t.Fatal(`nemesis process not written as "nemesis"`)
	}
}

func TestTornLastLineLoads(t *testing.T) {
	in := `{"index":0,"time":1,"type":"invoke","process":0,"f":"read","key":"k"}
{"index":1,"time":2,"type":"ok","process":0,"f":"read","key":"k"}
{"index":2,"time":3,"type":"inv`
	h, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != 2 || !h.Truncated {
		t.Fatalf("got %d events, truncated %v; want 2, true", len(h.Events), h.Truncated)
	}
}

func TestMalformedLinesAreErrors(t *testing.T) {
	for name, in := range map[string]string{
		"bad middle line": `{"index":0,"time":1,"type":"invoke","process":0,"f":"read"}
not json
{"index":1,"time":2,"type":"ok","process":0,"f":"read"}
`,
		"not a history": "hello world\n",
		"unknown type":  `{"index":0,"time":1,"type":"maybe","process":0,"f":"read"}` + "\n" + `{"index":1,"time":1,"type":"ok","process":0,"f":"read"}`,
		"bad process":   `{"index":0,"time":1,"type":"ok","process":"bob","f":"read"}` + "\n" + `{"index":1,"time":1,"type":"ok","process":0,"f":"read"}`,
		"missing f":     `{"index":0,"time":1,"type":"ok","process":0}` + "\n" + `{"index":1,"time":1,"type":"ok","process":0,"f":"read"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Read(strings.NewReader(in))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestUnknownFieldsAreIgnored(t *testing.T) {
	// Histories written by later versions carry fields this one lacks.
	h, err := Read(strings.NewReader(`{"index":0,"time":1,"type":"invoke","process":0,"f":"read","new_field":{"x":1}}` + "\n"))
	if err != nil || len(h.Events) != 1 {
		t.Fatalf("got %v, %v", h, err)
	}
}

// A resent append names its first attempt; histories without the field
// (written before resends) read as before.
func TestRetryOfRoundTrips(t *testing.T) {
	var buf bytes.Buffer
	rec := NewRecorder(&buf)
	first := rec.Record(Event{Type: Invoke, Process: 0, F: FAppend, Workload: WorkloadLog, Value: Str("0-1")})
	rec.Record(Event{Type: Info, Process: 0, F: FAppend, Workload: WorkloadLog, Value: Str("0-1"), Error: "timeout"})
	rec.Record(Event{Type: Invoke, Process: 3, F: FAppend, Workload: WorkloadLog, Value: Str("0-1"), RetryOf: &first.Index})
	rec.Record(Event{Type: OK, Process: 3, F: FAppend, Workload: WorkloadLog, Value: Str("0-1"), Error: DuplicateAck})
	if !bytes.Contains(buf.Bytes(), []byte(`"retry_of":0`)) {
		t.Fatalf("retry_of not written: %s", buf.String())
	}
	h, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Events[2].RetryOf; r == nil || *r != 0 || h.Events[0].RetryOf != nil {
		t.Fatalf("retry_of read as %v and %v", h.Events[2].RetryOf, h.Events[0].RetryOf)
	}
}
