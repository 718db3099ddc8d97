package proxy

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// Raft messages on a framed link. NATS's Raft groups talk in core NATS
// messages of the system account (server/raft.go, createInternalSubs):
//
//	$NRG.V.<group>   vote requests          $NRG.AE.<group>  append entries
//	$NRG.P.<group>   forwarded proposals    $NRG.RP.<group>  peer removals
//	$NRG.R.<inbox>   replies                $NRG.CR.<inbox>  catch-up entries
//	$NRG.CP.<inbox>  catch-up progress
//
// Replies and catch-ups name no group: a link learns which group an inbox
// belongs to from the request that named it as its reply.

// RaftKind names what a Raft message is.
type RaftKind string

const (
	KindVote         RaftKind = "vote"
	KindVoteReply    RaftKind = "vote-reply"
	KindHeartbeat    RaftKind = "heartbeat" // an append entry without entries
	KindAppend       RaftKind = "append"    // an append entry with entries
	KindAppendReply  RaftKind = "append-reply"
	KindProposal     RaftKind = "proposal"
	KindRemovePeer   RaftKind = "remove-peer"
	KindCatchup      RaftKind = "catchup"
	KindCatchupReply RaftKind = "catchup-reply"
	KindReply        RaftKind = "reply" // to a request this link did not see
)

// RaftKinds lists every kind.
var RaftKinds = []RaftKind{KindVote, KindVoteReply, KindHeartbeat, KindAppend, KindAppendReply, KindProposal, KindRemovePeer, KindCatchup, KindCatchupReply, KindReply}

// Raft actions.
const (
	ActDrop      = "drop"      // the message never arrives
	ActDelay     = "delay"     // it arrives late, in order with the rest
	ActDuplicate = "duplicate" // it arrives twice
)

// RaftRule is what a raft fault does to the Raft messages of a link.
type RaftRule struct {
	// Groups are the Raft groups it acts on; empty: every group.
	Groups []string
	// Kinds are the kinds it acts on; empty: every kind.
	Kinds []RaftKind
	// Forward and Backward choose the directions: messages From sends To,
	// and those To sends From.
	Forward, Backward bool
	Action            string
	// Delay and Jitter are a delay's: each message waits Delay ± Jitter,
	// and never overtakes another of its connection.
	Delay, Jitter time.Duration
}

// RaftWatch waits for the first append entry of Groups (empty: any)
// carrying an entry of type Entry to pass a link; Fired gets one event.
type RaftWatch struct {
	Groups []string
	Entry  byte
	Fired  chan RaftEvent
}

// RaftEvent is a message a watch saw pass.
type RaftEvent struct {
	From, To string // the link's nodes, as the message went
	Group    string
	Kind     RaftKind
	Entries  []byte // the append entry's entry types
	At       time.Time
}

// Frame makes the link read the route protocol of every connection it
// accepts from now on, so that raft rules and watches can act on it. Call
// it before the link carries any connection: a stream cannot be framed
// from its middle. On the controller's handle of a remote link it only
// marks the link framed (the agent frames the real one).
func (l *Link) Frame() { l.framed.Store(true) }

// Framed reports whether the link reads the route protocol.
func (l *Link) Framed() bool { return l.framed.Load() }

// SetRaftRule puts rule in force on the link's framed connections; nil
// lifts it.
func (l *Link) SetRaftRule(rule *RaftRule) {
	if l.remote != nil {
		_ = l.remote.SetRaftRule(rule)
		return
	}
	l.rule.Store(rule)
}

// WatchRaft arms w on the link (nil disarms it).
func (l *Link) WatchRaft(w *RaftWatch) { l.watch.Store(w) }

// RaftStats are a link's counts of Raft messages by "action kind" ("seen
// vote", "dropped heartbeat", ...), and of connections it could not frame
// ("unframed").
func (l *Link) RaftStats() map[string]int64 {
	if !l.framed.Load() {
		return nil
	}
	if l.remote != nil {
		st, _ := l.remote.RaftStats()
		return st
	}
	l.raft.mu.Lock()
	defer l.raft.mu.Unlock()
	out := make(map[string]int64, len(l.raft.counts))
	for k, v := range l.raft.counts {
		out[k] = v
	}
	return out
}

// raftState is what a framed link knows and has counted.
type raftState struct {
	mu      sync.Mutex
	inboxes map[string]inbox // reply subject -> the group and kind of replies to it
	counts  map[string]int64
}

type inbox struct {
	group string
	kind  RaftKind
}

// maxInboxes bounds what a link remembers of inboxes: old ones are dropped
// in a batch, and a reply to one forgotten is of kind "reply".
const maxInboxes = 1 << 14

func (s *raftState) count(what string, kind RaftKind) {
	s.mu.Lock()
	if s.counts == nil {
		s.counts = map[string]int64{}
	}
	s.counts[what+" "+string(kind)]++
	s.mu.Unlock()
}

// classify names a message's group and kind, and learns the inbox its
// reply goes to. ok is false for a message that is not Raft's.
func (s *raftState) classify(u *unit) (group string, kind RaftKind, ok bool) {
	sub := u.subject
	if !strings.HasPrefix(sub, "$NRG.") {
		return "", "", false
	}
	prefix, rest, _ := strings.Cut(sub[len("$NRG."):], ".")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch prefix {
	case "V":
		group, kind = rest, KindVote
	case "AE":
		group, kind = rest, KindAppend
		if len(u.head) >= aeHeaderLen && u.head[40] == 0 && u.head[41] == 0 {
			kind = KindHeartbeat
		}
	case "P":
		group, kind = rest, KindProposal
	case "RP":
		group, kind = rest, KindRemovePeer
	default:
		in := s.inboxes[sub]
		group, kind = in.group, in.kind
		if kind == "" {
			kind = replyKind(sub, "")
		}
	}
	if u.reply != "" && group != "" {
		if len(s.inboxes) >= maxInboxes || s.inboxes == nil {
			s.inboxes = map[string]inbox{}
		}
		s.inboxes[u.reply] = inbox{group, replyKind(u.reply, kind)}
	}
	return group, kind, true
}

// replyKind is the kind of a message to subject, a reply to a message of
// kind of.
func replyKind(subject string, of RaftKind) RaftKind {
	switch {
	case strings.HasPrefix(subject, "$NRG.CR."):
		return KindCatchup
	case strings.HasPrefix(subject, "$NRG.CP."):
		return KindCatchupReply
	case of == KindVote:
		return KindVoteReply
	case of == KindAppend || of == KindHeartbeat || of == KindCatchup:
		return KindAppendReply
	}
	return KindReply
}

// applies reports whether rule acts on a message of group and kind going
// in direction forward.
func (r *RaftRule) applies(group string, kind RaftKind, forward bool) bool {
	if r == nil || (forward && !r.Forward) || (!forward && !r.Backward) {
		return false
	}
	return (len(r.Groups) == 0 || slices.Contains(r.Groups, group)) && (len(r.Kinds) == 0 || slices.Contains(r.Kinds, kind))
}

// maxDuplicate bounds the message a duplication holds whole to send twice;
// a larger one passes once, counted as too big.
const maxDuplicate = 1 << 20

// framedPump is pump for a framed connection: it reads units and does to
// each Raft message what the rule in force says, passing everything else
// on in order.
type framedPump struct {
	l       *Link
	c       *conn
	dst     net.Conn
	d       *direction
	forward bool
	f       framer
	line    *delayLine
	// Per unit: the action decided at its first piece, and what a
	// duplication has gathered.
	act     string
	delay   time.Duration
	group   string
	kind    RaftKind
	dup     []byte
	failed  bool
	counted bool
}

func (l *Link) pumpFramed(c *conn, dst, src net.Conn, d *direction, forward bool) {
	p := &framedPump{l: l, c: c, dst: dst, d: d, forward: forward}
	buf := bufPool.Get().(*[bufSize]byte)
	defer func() {
		if p.line != nil {
			p.line.stop()
		}
		bufPool.Put(buf)
	}()
	for {
		if !d.gate.wait(c.ctx) {
			return
		}
		n, rerr := src.Read(buf[:])
		if n > 0 {
			if !d.throttle(c.ctx, n) {
				return
			}
			p.f.feed(buf[:n], p.piece)
			if p.f.lost && !p.counted {
				p.counted = true
				l.raft.count("unframed", "connection")
			}
			if p.failed {
				return
			}
		}
		if rerr != nil {
			p.end(rerr)
			return
		}
	}
}

// piece handles one piece of the stream.
func (p *framedPump) piece(pc piece) {
	if p.failed {
		return
	}
	if pc.first {
		p.judge(pc.u)
	}
	switch p.act {
	case ActDrop:
	case ActDuplicate:
		p.dup = append(p.dup, pc.b...)
		if pc.last {
			p.emit(p.dup, 0)
			p.emit(p.dup, 0)
			p.dup = p.dup[:0]
		}
	default:
		p.emit(pc.b, p.delay)
	}
	if pc.last && p.kind != "" {
		p.watch(pc.u)
	}
}

// judge decides what happens to the unit that begins now.
func (p *framedPump) judge(u *unit) {
	p.act, p.delay, p.group, p.kind = "", 0, "", ""
	if u == nil {
		return
	}
	group, kind, ok := p.l.raft.classify(u)
	if !ok {
		return
	}
	p.group, p.kind = group, kind
	p.l.raft.count("seen", kind)
	rule := p.l.rule.Load()
	if !rule.applies(group, kind, p.forward) {
		return
	}
	p.act = rule.Action
	switch rule.Action {
	case ActDrop:
		p.l.raft.count("dropped", kind)
	case ActDelay:
		p.delay = (&latency{rule.Delay, rule.Jitter}).sample()
		p.l.raft.count("delayed", kind)
	case ActDuplicate:
		if u.size > maxDuplicate {
			p.act = ""
			p.l.raft.count("too-big-to-duplicate", kind)
			return
		}
		p.l.raft.count("duplicated", kind)
	}
}

// watch fires an armed watch on the append entry that just passed.
func (p *framedPump) watch(u *unit) {
	w := p.l.watch.Load()
	if w == nil || p.act == ActDrop || (p.kind != KindAppend && p.kind != KindCatchup) {
		return
	}
	_, types := p.f.ae.entries()
	if !slices.Contains(types, w.Entry) || (len(w.Groups) > 0 && !slices.Contains(w.Groups, p.group)) {
		return
	}
	if !p.l.watch.CompareAndSwap(w, nil) {
		return // another connection fired it
	}
	from, to := p.l.From, p.l.To
	if !p.forward {
		from, to = to, from
	}
	w.Fired <- RaftEvent{From: from, To: to, Group: p.group, Kind: p.kind, Entries: slices.Clone(types), At: time.Now()}
}

// emit passes b on after extra delay (and the link's latency). While a
// delay or latency is in force everything goes through the connection's
// delay line, so nothing overtakes; otherwise, once the line has drained,
// it is written at once.
func (p *framedPump) emit(b []byte, extra time.Duration) {
	lat := p.l.latency.Load()
	rule := p.l.rule.Load()
	delaying := lat != nil || (rule != nil && rule.Action == ActDelay)
	if !delaying && p.line != nil {
		ok := p.line.stop()
		p.line = nil
		if !ok {
			p.failed = true
			return
		}
	}
	if !delaying {
		if !p.d.write(p.c.ctx, p.dst, b) {
			p.failed = true
		}
		return
	}
	if p.line == nil {
		p.line = startLine(p.c, p.dst, p.d)
	}
	wait := &latency{delay: extra}
	if lat != nil {
		wait = &latency{delay: lat.sample() + extra}
	}
	for len(b) > 0 {
		buf := bufPool.Get().(*[bufSize]byte)
		n := copy(buf[:], b)
		b = b[n:]
		if !p.line.push(chunk{buf: buf, n: n}, wait) {
			p.failed = true
			return
		}
	}
}

// end passes on the end of the stream after everything before it.
func (p *framedPump) end(rerr error) {
	if p.line == nil {
		p.d.end(p.c, p.dst, rerr)
		return
	}
	p.line.push(chunk{err: rerr}, &latency{})
}

// String describes a rule for records: "drop vote,heartbeat of [S-R3F-x] both ways".
func (r *RaftRule) String() string {
	kinds := "every kind"
	if len(r.Kinds) > 0 {
		ks := make([]string, len(r.Kinds))
		for i, k := range r.Kinds {
			ks[i] = string(k)
		}
		kinds = strings.Join(ks, ",")
	}
	groups := "every group"
	if len(r.Groups) > 0 {
		groups = strings.Join(r.Groups, ",")
	}
	s := fmt.Sprintf("%s %s of %s", r.Action, kinds, groups)
	if r.Action == ActDelay {
		s += fmt.Sprintf(" by %s±%s", r.Delay, r.Jitter)
	}
	return s
}
