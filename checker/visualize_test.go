package checker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// diagramData is what Porcupine's page hands its script: the descriptions
// the tooltip writes into innerHTML.
type diagramData struct {
	Partitions []struct {
		History []struct {
			Description, Metadata string
		}
		PartialLinearizations [][]struct{ StateDescription string }
	}
}

func readDiagram(t *testing.T, page string) diagramData {
	t.Helper()
	_, rest, ok := strings.Cut(page, "const data = ")
	line, _, _ := strings.Cut(rest, "\n")
	var d diagramData
	if err := json.Unmarshal([]byte(line), &d); !ok || err != nil {
		t.Fatalf("no diagram data in the page (%v)", err)
	}
	return d
}

// A value from a history reaches the diagram's tooltip as text: every
// description jetsam's models give Porcupine is escaped, for a whole key
// (KVModel) and for a window cut from a hot key (kvWindowModel).
func TestDiagramDescriptionsAreEscaped(t *testing.T) {
	evil := `<img src=x onerror="document.title='pwned'">`
	for _, writes := range []int{2, DiagramOps + 50} {
		t.Run(fmt.Sprintf("%d writes", writes), func(t *testing.T) {
			h := &hist{}
			for i := 1; i < writes; i++ {
				h.write(0, "k", fmt.Sprintf("v%d", i), uint64(i))
			}
			h.write(0, "k", evil, uint64(writes))
			h.write(0, "k", "last", uint64(writes+1))
			h.read(1, "k", s(evil), uint64(writes)) // stale: a failing key
			var buf bytes.Buffer
			if err := VisualizeKV(&buf, Pair(h.events), "k", h.events[len(h.events)-1].Time, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			d := readDiagram(t, buf.String())
			var ops, states []string
			for _, p := range d.Partitions {
				for _, op := range p.History {
					ops = append(ops, op.Description, op.Metadata)
				}
				for _, lin := range p.PartialLinearizations {
					for _, step := range lin {
						states = append(states, step.StateDescription)
					}
				}
			}
			const shown = "&lt;img src=x onerror=&#34;document.title=&#39;pwned&#39;&#34;&gt;"
			count := func(texts []string) (n int) {
				for _, s := range texts {
					if strings.ContainsAny(s, `<>"'`) {
						t.Fatalf("a description holds markup: %q", s)
					}
					if strings.Contains(s, shown) {
						n++
					}
				}
				return n
			}
			escaped, inStates := count(ops), count(states)
			if escaped == 0 || inStates == 0 {
				t.Fatalf("the value is not in the diagram, escaped (%d operations, %d states): %q %q", escaped, inStates, ops, states)
			}
		})
	}
}
