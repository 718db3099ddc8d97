package proxy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Net is the set of links of one cluster, at most one per directed pair of
// nodes, and the directed cuts between those nodes. Node names are
// arbitrary: a client's links are cut like any other. It is safe for
// concurrent use.
type Net struct {
	mu     sync.Mutex
	links  map[pair]*Link
	cuts   map[pair]struct{}
	refuse bool
}

type pair struct{ from, to string }

// NewNet returns an empty set of links.
func NewNet() *Net {
	return &Net{links: make(map[pair]*Link), cuts: make(map[pair]struct{})}
}

// Add puts l in the set and applies the set's cuts and refuse setting to it.
// It panics if the set already has a link for the same pair, since the
// first would then never be closed or blocked.
func (n *Net) Add(l *Link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := pair{l.From, l.To}
	if _, ok := n.links[p]; ok {
		panic(fmt.Sprintf("proxy: second link %s->%s", l.From, l.To))
	}
	n.links[p] = l
	n.apply(l)
	l.SetRefuse(n.refuse)
}

// Link returns the link from node from to node to, or nil if there is none.
func (n *Net) Link(from, to string) *Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.links[pair{from, to}]
}

// Links returns every link, sorted by From, then To.
func (n *Net) Links() []*Link {
	return n.linksWhere(func(*Link) bool { return true })
}

// LinksOf returns every link from or to node, sorted by From, then To.
func (n *Net) LinksOf(node string) []*Link {
	return n.linksWhere(func(l *Link) bool { return l.From == node || l.To == node })
}

func (n *Net) linksWhere(keep func(*Link) bool) []*Link {
	n.mu.Lock()
	var links []*Link
	for _, l := range n.links {
		if keep(l) {
			links = append(links, l)
		}
	}
	n.mu.Unlock()
	slices.SortFunc(links, func(x, y *Link) int {
		return cmp.Or(strings.Compare(x.From, y.From), strings.Compare(x.To, y.To))
	})
	return links
}

// Cut stops the bytes node from sends to node to, on every connection
// between them whichever side dialed it: it cuts the forward direction of
// the link from->to and the backward direction of the link to->from. Bytes
// from to to from still flow. Cuts form a set: cutting a cut pair again
// changes nothing.
func (n *Net) Cut(from, to string) { n.Grudge([][2]string{{from, to}}) }

// Uncut removes the cut from node from to node to, however it was made.
// Other cuts stay.
func (n *Net) Uncut(from, to string) { n.uncut([][2]string{{from, to}}) }

// Grudge adds the directed cuts [from, to] at once.
func (n *Net) Grudge(cuts [][2]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range cuts {
		n.cuts[pair{c[0], c[1]}] = struct{}{}
	}
	n.applyTo(cuts)
}

func (n *Net) uncut(cuts [][2]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range cuts {
		delete(n.cuts, pair{c[0], c[1]})
	}
	n.applyTo(cuts)
}

// applyTo brings the links that carry cuts, in either direction, in line
// with n.cuts. n.mu is held.
func (n *Net) applyTo(cuts [][2]string) {
	for _, c := range cuts {
		for _, p := range []pair{{c[0], c[1]}, {c[1], c[0]}} {
			if l := n.links[p]; l != nil {
				n.apply(l)
			}
		}
	}
}

// apply sets which directions of l are cut from n.cuts alone, so that
// removing one cut never opens a direction another holds. n.mu is held.
func (n *Net) apply(l *Link) {
	_, fwd := n.cuts[pair{l.From, l.To}]
	_, rev := n.cuts[pair{l.To, l.From}]
	l.BlockDirection(fwd, rev)
}

// Cuts returns the directed cuts, sorted.
func (n *Net) Cuts() [][2]string {
	n.mu.Lock()
	cuts := make([][2]string, 0, len(n.cuts))
	for p := range n.cuts {
		cuts = append(cuts, [2]string{p.from, p.to})
	}
	n.mu.Unlock()
	slices.SortFunc(cuts, func(x, y [2]string) int {
		return cmp.Or(strings.Compare(x[0], y[0]), strings.Compare(x[1], y[1]))
	})
	return cuts
}

// BlockPair cuts a and b apart: Cut(a, b) and Cut(b, a).
func (n *Net) BlockPair(a, b string) { n.Grudge([][2]string{{a, b}, {b, a}}) }

// UnblockPair removes the cuts a->b and b->a: Uncut(a, b) and Uncut(b, a).
func (n *Net) UnblockPair(a, b string) { n.uncut([][2]string{{a, b}, {b, a}}) }

// Partition cuts every two nodes named in different groups apart, both
// ways. It only adds cuts: nodes within a group, and nodes named in no
// group, are left as they are, so call Heal first to replace an earlier
// partition. A node named in several groups belongs to the first.
func (n *Net) Partition(groups [][]string) {
	group := make(map[string]int)
	var nodes []string
	for i, g := range groups {
		for _, node := range g {
			if _, ok := group[node]; !ok {
				group[node] = i
				nodes = append(nodes, node)
			}
		}
	}
	var cuts [][2]string
	for _, a := range nodes {
		for _, b := range nodes {
			if group[a] != group[b] {
				cuts = append(cuts, [2]string{a, b})
			}
		}
	}
	n.Grudge(cuts)
}

// Heal removes every cut and unblocks every link in both directions, those
// blocked directly on the link too. Latency, bandwidth and refuse settings
// stay.
func (n *Net) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cuts)
	for _, l := range n.links {
		l.Unblock()
	}
}

// SetRefuse calls SetRefuse on every link, and on links added later.
func (n *Net) SetRefuse(refuse bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refuse = refuse
	for _, l := range n.links {
		l.SetRefuse(refuse)
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
