package synth

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/jetsam-dev/jetsam/history"
)

func TestJepsenKVIsDeterministicAndPlantsOneRead(t *testing.T) {
	cfg := JepsenKVConfig{Ops: 5000, Keys: 5, Clients: 16, InfoFrac: 0.05, AppendFrac: 0.5, Seed: 7}
	a, b := JepsenKV(cfg), JepsenKV(cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("one seed gave two histories")
	}
	cfg.Stale = true
	planted := JepsenKV(cfg)
	if planted.Planted < 0 || len(planted.Events) != len(a.Events) {
		t.Fatalf("planted at %d, %d events of %d", planted.Planted, len(planted.Events), len(a.Events))
	}
	var differ []int
	info := 0
	for i := range a.Events {
		if !reflect.DeepEqual(a.Events[i], planted.Events[i]) {
			differ = append(differ, i)
		}
		if a.Events[i].Type == history.Info {
			info++
		}
		if i > 0 && a.Events[i].Time <= a.Events[i-1].Time {
			t.Fatalf("event %d at %d, not after event %d", i, a.Events[i].Time, i-1)
		}
	}
	if len(differ) != 1 || differ[0] != planted.Planted || planted.Events[planted.Planted].Key != planted.PlantedKey {
		t.Errorf("planted history differs at %v, want only the planted read %d", differ, planted.Planted)
	}
	if info < 50 || info > 200 {
		t.Errorf("%d indeterminate writes of about 2500, want about 5%%", info)
	}
	var x, y bytes.Buffer
	if err := WriteEDN(&x, a.Events, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteEDN(&y, b.Events, false); err != nil || !bytes.Equal(x.Bytes(), y.Bytes()) {
		t.Errorf("one seed wrote two texts (%v)", err)
	}
}
