package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestReadJepsenTimes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		timeless bool
		times    []int64
	}{
		{"every map has :time", `{:process 0, :type :invoke, :f :put, :key "0", :value "a", :time 1500}
{:process 0, :type :ok, :f :put, :key "0", :value "a", :time 2500}
{:process 1, :type :invoke, :f :get, :key "0", :value nil, :time 2500}
{:process 1, :type :ok, :f :get, :key "0", :value "a", :time 9000}
`, false, []int64{1500, 2500, 2500, 9000}},
		{"no :time", `{:process 0, :type :invoke, :f :put, :key "0", :value "a"}
{:process 0, :type :ok, :f :put, :key "0", :value "a"}
`, true, []int64{0, 1}},
		{"one map without :time", `{:process 0, :type :invoke, :f :put, :key "0", :value "a", :time 10}
{:process 0, :type :ok, :f :put, :key "0", :value "a"}
{:process 1, :type :invoke, :f :get, :key "0", :value nil, :time 30}
`, true, []int64{0, 1, 2}},
		{"times going back", `{:process 0, :type :invoke, :f :put, :key "0", :value "a", :time 10}
{:process 0, :type :ok, :f :put, :key "0", :value "a", :time 5}
`, true, []int64{0, 1}},
		{"negative time", `{:process 0, :type :invoke, :f :put, :key "0", :value "a", :time -10}
{:process 0, :type :ok, :f :put, :key "0", :value "a", :time 5}
`, true, []int64{0, 1}},
		{"text log", jepsenTextLog, true, nil},
	} {
		h := readJepsenString(t, tc.in)
		if h.Timeless != tc.timeless {
			t.Errorf("%s: timeless %v, want %v", tc.name, h.Timeless, tc.timeless)
		}
		for i, want := range tc.times {
			if h.Events[i].Time != want {
				t.Errorf("%s: event %d at %d, want %d", tc.name, i, h.Events[i].Time, want)
			}
		}
	}
	_, err := ReadJepsen(strings.NewReader(`{:process 0, :type :invoke, :f :put, :key "0", :value "a", :time "soon"}`))
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("a :time that is not an integer: %v, want ErrMalformed", err)
	}
}

func TestReadJepsenStopsWhenContextEnds(t *testing.T) {
	var b strings.Builder
	for i := range 20_000 {
		fmt.Fprintf(&b, "{:process %d, :type :invoke, :f :get, :key \"0\", :value nil}\n{:process %d, :type :ok, :f :get, :key \"0\", :value \"\"}\n", i, i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h, err := ReadJepsenContext(ctx, strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Interrupted || len(h.Events) >= 40_000 {
		t.Errorf("read with an ended context: interrupted %v, %d of 40000 events", h.Interrupted, len(h.Events))
	}
	h, err = ReadJepsenContext(context.Background(), strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if h.Interrupted || len(h.Events) != 40_000 {
		t.Errorf("read whole: interrupted %v, %d of 40000 events", h.Interrupted, len(h.Events))
	}
}
