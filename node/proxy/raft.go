package proxy

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// nKinds is how many kinds RaftKinds lists.
const nKinds = 10

// RaftKinds lists every kind.
var RaftKinds = [nKinds]RaftKind{KindVote, KindVoteReply, KindHeartbeat, KindAppend, KindAppendReply, KindProposal, KindRemovePeer, KindCatchup, KindCatchupReply, KindReply}

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
// ("unframed connection").
func (l *Link) RaftStats() map[string]int64 {
	if !l.framed.Load() {
		return nil
	}
	if l.remote != nil {
		st, _ := l.remote.RaftStats()
		return st
	}
	return l.raft.stats()
}

// Actions a link counts, in the order of raftState.counts.
const (
	actSeen = iota
	actDropped
	actDelayed
	actDuplicated
	actTooBig
	nActions
)

var actionNames = [nActions]string{"seen", "dropped", "delayed", "duplicated", "too-big-to-duplicate"}

// raftState is what a framed link knows and has counted. Counting is
// lock-free: a busy route carries thousands of Raft messages a second.
type raftState struct {
	mu      sync.Mutex
	inboxes map[string]inbox  // reply subject -> the group and kind of replies to it
	groups  map[string]string // group names seen, so each is allocated once
	counts  [nActions][nKinds]atomic.Int64
	// unframed counts connections the framer gave up on.
	unframed atomic.Int64
}

type inbox struct {
	group string
	kind  RaftKind
}

// maxInboxes bounds what a link remembers of inboxes: old ones are dropped
// in a batch, and a reply to one forgotten is of kind "reply".
const maxInboxes = 1 << 14

func (s *raftState) add(action int, kind RaftKind) {
	if i := slices.Index(RaftKinds[:], kind); i >= 0 {
		s.counts[action][i].Add(1)
	}
}

func (s *raftState) stats() map[string]int64 {
	out := map[string]int64{}
	for a := range s.counts {
		for k := range s.counts[a] {
			if n := s.counts[a][k].Load(); n > 0 {
				out[actionNames[a]+" "+string(RaftKinds[k])] = n
			}
		}
	}
	if n := s.unframed.Load(); n > 0 {
		out["unframed connection"] = n
	}
	return out
}

// intern returns the group named b, allocating it once; the caller holds
// mu.
func (s *raftState) intern(b []byte) string {
	if g, ok := s.groups[string(b)]; ok {
		return g
	}
	if s.groups == nil || len(s.groups) >= maxInboxes {
		s.groups = map[string]string{}
	}
	g := string(b)
	s.groups[g] = g
	return g
}

var nrgPrefix = []byte("$NRG.")

// classify names a message's group and kind, and learns the inbox its
// reply goes to. ok is false for a message that is not Raft's.
func (s *raftState) classify(u *unit) (group string, kind RaftKind, ok bool) {
	sub := u.subject
	if !bytes.HasPrefix(sub, nrgPrefix) {
		return "", "", false
	}
	prefix, name, _ := bytes.Cut(sub[len(nrgPrefix):], []byte("."))
	s.mu.Lock()
	defer s.mu.Unlock()
	switch string(prefix) {
	case "V":
		group, kind = s.intern(name), KindVote
	case "AE":
		group, kind = s.intern(name), KindAppend
		if len(u.head) >= aeHeaderLen && u.head[40] == 0 && u.head[41] == 0 {
			kind = KindHeartbeat
		}
	case "P":
		group, kind = s.intern(name), KindProposal
	case "RP":
		group, kind = s.intern(name), KindRemovePeer
	default:
		in := s.inboxes[string(sub)]
		group, kind = in.group, in.kind
		if kind == "" {
			kind = replyKind(sub, "")
		}
	}
	if len(u.reply) > 0 && group != "" {
		rk := replyKind(u.reply, kind)
		if in, ok := s.inboxes[string(u.reply)]; !ok || in != (inbox{group, rk}) {
			if len(s.inboxes) >= maxInboxes || s.inboxes == nil {
				s.inboxes = map[string]inbox{}
			}
			s.inboxes[string(u.reply)] = inbox{group, rk}
		}
	}
	return group, kind, true
}

// replyKind is the kind of a message to subject, a reply to a message of
// kind of.
func replyKind(subject []byte, of RaftKind) RaftKind {
	switch {
	case bytes.HasPrefix(subject, []byte("$NRG.CR.")):
		return KindCatchup
	case bytes.HasPrefix(subject, []byte("$NRG.CP.")):
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
	// out gathers what passes at once from one read, so that it goes out
	// in one write, as the plain pump's does.
	out []byte
	// pieceFn is piece as a func value, made once.
	pieceFn func(piece)
}

func (l *Link) pumpFramed(c *conn, dst, src net.Conn, d *direction, forward bool) {
	p := &framedPump{l: l, c: c, dst: dst, d: d, forward: forward}
	p.pieceFn = p.piece
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
			p.f.feed(buf[:n], p.pieceFn)
			p.flush()
			if p.f.lost && !p.counted {
				p.counted = true
				l.raft.unframed.Add(1)
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
	p.l.raft.add(actSeen, kind)
	rule := p.l.rule.Load()
	if !rule.applies(group, kind, p.forward) {
		return
	}
	p.act = rule.Action
	switch rule.Action {
	case ActDrop:
		p.l.raft.add(actDropped, kind)
	case ActDelay:
		p.delay = (&latency{rule.Delay, rule.Jitter}).sample()
		p.l.raft.add(actDelayed, kind)
	case ActDuplicate:
		if u.size > maxDuplicate {
			p.act = ""
			p.l.raft.add(actTooBig, kind)
			return
		}
		p.l.raft.add(actDuplicated, kind)
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
		p.out = append(p.out, b...)
		return
	}
	if p.flush(); p.failed {
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

// flush writes what passed at once since the last flush.
func (p *framedPump) flush() {
	if len(p.out) == 0 || p.failed {
		return
	}
	if !p.d.write(p.c.ctx, p.dst, p.out) {
		p.failed = true
	}
	if cap(p.out) > 4*bufSize {
		p.out = nil // a duplicated large message grew it: let it go
	} else {
		p.out = p.out[:0]
	}
}

// end passes on the end of the stream after everything before it.
func (p *framedPump) end(rerr error) {
	if p.flush(); p.failed {
		return
	}
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
