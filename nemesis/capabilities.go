package nemesis

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// The cluster a nemesis acts on has small capabilities; every fault uses
// only those it needs, and a cluster that lacks one skips the faults that
// need it (in the history, nothing; in the log, one line).

// Network is what every cluster has: its nodes, and directed cuts of the
// links between them and to the clients.
type Network interface {
	NodeNames() []string
	// Cut adds directed cuts: [a, b] stops the bytes a sends to b.
	Cut(cuts [][2]string)
	// Uncut removes exactly the given cuts.
	Uncut(cuts [][2]string)
	// LinkStats are every link proxy's counters.
	LinkStats() []history.LinkStats
}

// Links shape the traffic of every connection between each pair of nodes,
// in both directions. Zero removes a setting.
type Links interface {
	SetLatency(pairs [][2]string, delay, jitter time.Duration)
	SetBandwidth(pairs [][2]string, bytesPerSecond int64)
	Reset(pairs [][2]string) int
}

// Leaders name a leader as the asked nodes see it (all nodes when none are
// given).
type Leaders interface {
	StreamLeaderSeenBy(ctx context.Context, stream string, ask []string) (string, error)
	MetaLeaderSeenBy(ctx context.Context, ask []string) (string, error)
}

// Processes stop and start nodes.
type Processes interface {
	// KillNode ends a node's process at once (SIGKILL); StartNode runs it
	// again on the same data.
	KillNode(node string) error
	StartNode(node string) error
	// PauseNode stops a node's process (SIGSTOP); ResumeNode continues it.
	PauseNode(node string) error
	ResumeNode(node string) error
}

// Disks damage what a dead node has on disk.
type Disks interface {
	// DropUnsynced throws away what a dead node wrote but did not sync,
	// and returns how many bytes that was.
	DropUnsynced(node string) (int64, error)
	// Corrupt damages one file of the given types of a dead node, and
	// says exactly what it changed.
	Corrupt(node string, rng *rand.Rand, types []string) (map[string]string, error)
}

// Membership changes which servers the groups have.
type Membership interface {
	// RemovePeer takes a node that is down out of every given stream's
	// group and out of the meta group, and wipes it; it returns each step
	// with its outcome.
	RemovePeer(ctx context.Context, node string, streams []string) ([]string, error)
	// Rejoin starts a node that is down under a fresh server name, and
	// returns the name.
	Rejoin(node string) (string, error)
	Replicas(ctx context.Context, stream string) (int, error)
	SetReplicas(ctx context.Context, stream string, replicas int) error
}
