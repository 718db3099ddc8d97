package proxy

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Net is the set of links of one cluster, at most one per directed pair of
// nodes. It is safe for concurrent use.
type Net struct {
	mu    sync.Mutex
	links map[pair]*Link
}

type pair struct{ from, to string }

// NewNet returns an empty set of links.
func NewNet() *Net {
	return &Net{links: make(map[pair]*Link)}
}

// Add puts l in the set. It panics if the set already has a link for the
// same pair, since the first would then never be closed or blocked.
func (n *Net) Add(l *Link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := pair{l.From, l.To}
	if _, ok := n.links[p]; ok {
		panic(fmt.Sprintf("proxy: second link %s->%s", l.From, l.To))
	}
	n.links[p] = l
}

// Link returns the link from node from to node to, or nil if there is none.
func (n *Net) Link(from, to string) *Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.links[pair{from, to}]
}

// Links returns every link, sorted by From, then To.
func (n *Net) Links() []*Link {
	n.mu.Lock()
	links := make([]*Link, 0, len(n.links))
	for _, l := range n.links {
		links = append(links, l)
	}
	n.mu.Unlock()
	sort.Slice(links, func(i, j int) bool {
		if links[i].From != links[j].From {
			return links[i].From < links[j].From
		}
		return links[i].To < links[j].To
	})
	return links
}

// BlockPair cuts a and b apart: it blocks the links a->b and b->a, those
// that exist.
func (n *Net) BlockPair(a, b string) { n.setPair(a, b, true) }

// UnblockPair unblocks the links a->b and b->a, those that exist.
func (n *Net) UnblockPair(a, b string) { n.setPair(a, b, false) }

func (n *Net) setPair(a, b string, blocked bool) {
	for _, l := range []*Link{n.Link(a, b), n.Link(b, a)} {
		if l != nil {
			l.BlockDirection(blocked, blocked)
		}
	}
}

// Partition blocks every link between two nodes named in different groups.
// It only adds cuts: links within a group, and links to or from a node named
// in no group, are left as they are, so call Heal first to replace an
// earlier partition. A node named in several groups belongs to the first.
func (n *Net) Partition(groups [][]string) {
	group := make(map[string]int)
	for i, g := range groups {
		for _, node := range g {
			if _, ok := group[node]; !ok {
				group[node] = i
			}
		}
	}
	for _, l := range n.Links() {
		gf, okf := group[l.From]
		gt, okt := group[l.To]
		if okf && okt && gf != gt {
			l.Block()
		}
	}
}

// Heal unblocks every link in both directions.
func (n *Net) Heal() {
	for _, l := range n.Links() {
		l.Unblock()
	}
}

// Close closes every link, returning their errors joined.
func (n *Net) Close() error {
	var errs []error
	for _, l := range n.Links() {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}
