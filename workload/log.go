package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/retry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// LogStream is the stream of the log workload; it holds one subject.
const (
	LogStream  = "jetsam-log"
	logSubject = "jetsam.log"
)

// Log is the stream-as-a-log workload: conditional appends (expecting the
// last sequence seen), appends deduplicated by a unique message ID, and
// reads by sequence; at the end the whole stream is read through the leader
// and from every replica alone.
type Log struct {
	o       Options
	clients []*client
	last    *revHints // the newest sequence seen, under the key ""
}

// NewLog prepares the workload; Setup connects it.
var logKind = Kind{Name: NameLog, Reads: true, FinalLast: true, New: func(o Options) Workload { return NewLog(o) }}

func NewLog(o Options) *Log {
	return &Log{o: o, last: &revHints{m: map[string]uint64{}}}
}

func (l *Log) Name() string   { return NameLog }
func (l *Log) Stream() string { return LogStream }

// Setup creates the stream and connects every client.
func (l *Log) Setup(ctx context.Context) error {
	cs, err := connectAll(l.o, NameLog)
	if err != nil {
		return err
	}
	l.clients = cs
	err = createStream(ctx, func(ctx context.Context) error {
		_, err := cs[0].js.CreateStream(ctx, jetstream.StreamConfig{
			Name: LogStream, Subjects: []string{logSubject}, Replicas: l.o.Replicas,
			Storage: jetstream.FileStorage, AllowDirect: true, Duplicates: 2 * time.Minute,
		})
		return err
	})
	if err != nil {
		l.Close()
		return fmt.Errorf("create stream %s: %w", LogStream, err)
	}
	return nil
}

func (l *Log) Close() { closeAll(l.clients) }

func (l *Log) event(c *client, f string) history.Event {
	return history.Event{Type: history.Invoke, Process: c.process, F: f, Workload: NameLog, Node: c.node.Node}
}

// Run drives every client until ctx ends.
func (l *Log) Run(ctx context.Context, rec *history.Recorder) error {
	return drive(ctx, l.clients, l.o.Rate, func(c *client) {
		last := l.last.get("")
		if c.readOnly {
			l.readRecent(ctx, c, rec, last)
			return
		}
		switch n := c.rng.IntN(10); {
		case n < 3 && l.o.ReadMode != ReadNone && last > 0:
			l.read(c, rec, 1+c.rng.Uint64N(last), readMode(l.o.ReadMode, c.rng))
		case n < 7:
			l.append(c, rec, true)
		default:
			l.append(c, rec, false)
		}
	})
}

// readRecent reads one of the newest sequences acknowledged: where a
// replica that fell behind answers differently from the leader.
func (l *Log) readRecent(ctx context.Context, c *client, rec *history.Recorder, last uint64) {
	if last == 0 || l.o.ReadMode == ReadNone {
		sleep(ctx, 10*time.Millisecond) // nothing to read yet
		return
	}
	c.pauseAfter(l.read(c, rec, last-c.rng.Uint64N(min(last, 32)), readMode(l.o.ReadMode, c.rng)))
}

// append adds a unique value: conditional on the newest sequence seen, or
// with the value as its message ID, so a resend would be deduplicated.
// A message-ID append that ends indeterminate is re-sent at once, as a
// client would, with the same ID and value, up to logRetries times; each
// resend is an operation of its own that names the first attempt.
func (l *Log) append(c *client, rec *history.Recorder, conditional bool) {
	v := c.nextValue()
	m := nats.NewMsg(logSubject)
	m.Data = []byte(v)
	var expect *uint64
	if conditional {
		expect = history.U64(l.last.get(""))
		m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(*expect, 10))
	} else {
		m.Header.Set(jetstream.MsgIDHeader, v)
	}
	first, done := l.sendAppend(c, rec, m, v, expect, nil)
	for i := 0; i < logRetries && !conditional && done.Type == history.Info; i++ {
		_, done = l.sendAppend(c, rec, m, v, nil, &first)
	}
}

// logRetries bounds the resends of an indeterminate message-ID append.
const logRetries = 2

// sendAppend publishes m as one append operation of value v and records
// it; retryOf names the first attempt's invocation when m is a resend. It
// returns the invocation's index and the completion.
func (l *Log) sendAppend(c *client, rec *history.Recorder, m *nats.Msg, v string, expect *uint64, retryOf *int) (int, history.Event) {
	e := l.event(c, history.FAppend)
	e.Value, e.ExpectRev, e.RetryOf = &v, expect, retryOf
	inv := rec.Record(e)
	e.RetryOf = nil // the invocation names the first attempt; the completion need not
	ctx, cancel := opContext(time.Duration(l.o.OpTimeout))
	ack, err := c.publish(ctx, rec, inv.Index, m)
	cancel()
	switch {
	case err == nil:
		e.Type, e.Rev = history.OK, ack.Sequence
		if ack.Duplicate {
			e.Error = history.DuplicateAck
		}
		l.last.observe("", ack.Sequence)
	case expect != nil && rejected(err):
		e.Type, e.Error = history.Fail, err.Error()
	default:
		e.Type, e.Error = history.Info, err.Error()
	}
	return inv.Index, c.complete(rec, e)
}

// read gets one sequence, from the leader or from any replica.
func (l *Log) read(c *client, rec *history.Recorder, seq uint64, mode string) history.Event {
	e := l.event(c, history.FRead)
	e.Rev, e.ReadMode = seq, mode
	rec.Record(e)
	ctx, cancel := opContext(time.Duration(l.o.OpTimeout))
	var r readResult
	if mode == ReadDirect {
		r = directGetSeq(ctx, c.nc, seq)
	} else {
		r = leaderGetSeq(ctx, c.nc, seq)
	}
	cancel()
	e.Type, e.Error = r.typ, r.err
	if r.typ == history.OK && r.present {
		e.Value = &r.value
	}
	return c.complete(rec, e)
}

// getRequest is the body of both message-get APIs.
type getRequest struct {
	Seq   uint64 `json:"seq"`
	Batch int    `json:"batch,omitempty"`
}

func leaderGetSeq(ctx context.Context, nc *nats.Conn, seq uint64) readResult {
	m, r := messageGet(ctx, nc, LogStream, getRequest{Seq: seq})
	if m == nil {
		return r
	}
	return readResult{typ: history.OK, present: true, value: string(m.Data), rev: m.Seq}
}

// storedMsg is a message as the stream message-get API returns it.
type storedMsg struct {
	Seq  uint64 `json:"seq"`
	Data []byte `json:"data"`
	Hdrs []byte `json:"hdrs"`
}

// messageGet asks a stream's leader for one message. It returns the
// message, or nil and how the read ended: ok and absent (not found), fail
// (refused), or info (unanswered).
func messageGet(ctx context.Context, nc *nats.Conn, stream string, req any) (*storedMsg, readResult) {
	body, _ := json.Marshal(req)
	msg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		return nil, readResult{typ: history.Info, err: err.Error()}
	}
	var resp struct {
		Error   *jetstream.APIError `json:"error"`
		Message *storedMsg          `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, readResult{typ: history.Info, err: "undecodable reply: " + err.Error()}
	}
	switch {
	case resp.Error != nil && resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return nil, readResult{typ: history.OK}
	case resp.Error != nil:
		return nil, readResult{typ: history.Fail, err: fmt.Sprintf("%s (%d/%d)", resp.Error.Description, resp.Error.Code, resp.Error.ErrorCode)}
	case resp.Message == nil:
		return nil, readResult{typ: history.Info, err: "reply has neither message nor error"}
	}
	return resp.Message, readResult{}
}

func directGetSeq(ctx context.Context, nc *nats.Conn, seq uint64) readResult {
	req, _ := json.Marshal(getRequest{Seq: seq})
	msg, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+LogStream, req)
	if err != nil {
		return readResult{typ: history.Info, err: err.Error()}
	}
	switch status := msg.Header.Get("Status"); status {
	case "":
		return readResult{typ: history.OK, present: true, value: string(msg.Data), rev: seq}
	case "404":
		return readResult{typ: history.OK}
	default:
		return readResult{typ: history.Fail, err: "status " + status + " " + msg.Header.Get("Description")}
	}
}

// Final reads the whole stream through the leader, then from each replica
// alone: the node is cut off from the others, so a direct get can only be
// answered by its own copy.
func (l *Log) Final(ctx context.Context, rec *history.Recorder) error {
	readers := perNode(l.clients)
	leaderLog, err := l.readAllLeader(ctx, readers[0], rec)
	if err != nil {
		return err
	}
	if l.o.Isolate == nil {
		return nil
	}
	var last uint64
	if n := len(leaderLog); n > 0 {
		last = leaderLog[n-1].Seq
	}
	for _, c := range readers {
		undo := l.o.Isolate(c.node.Node)
		err := l.readAllReplica(ctx, c, rec, last)
		undo()
		if err != nil {
			return err
		}
	}
	return nil
}

// readAllLeader reads every sequence up to the stream's last from the
// leader, with a few requests in flight.
func (l *Log) readAllLeader(ctx context.Context, c *client, rec *history.Recorder) ([]history.LogEntry, error) {
	e := l.event(c, history.FReadAll)
	e.ReadMode, e.Phase = ReadLeader, history.PhaseFinal
	rec.Record(e)
	var info *jetstream.StreamInfo
	err := retryFor(ctx, func(ctx context.Context) error {
		s, err := c.js.Stream(ctx, LogStream)
		if err == nil {
			info = s.CachedInfo()
		}
		return err
	})
	if err != nil {
		e.Type, e.Error = history.Info, err.Error()
		c.complete(rec, e)
		return nil, fmt.Errorf("stream info: %w", err)
	}
	last := info.State.LastSeq
	entries := make([]*history.LogEntry, last+1)
	var mu sync.Mutex
	next := uint64(1)
	g, gctx := errgroup.WithContext(ctx)
	for range 16 {
		g.Go(func() error {
			for {
				mu.Lock()
				seq := next
				next++
				mu.Unlock()
				if seq > last {
					return nil
				}
				var r readResult
				err := retryFor(gctx, func(ctx context.Context) error {
					r = leaderGetSeq(ctx, c.nc, seq)
					if r.typ != history.OK {
						return fmt.Errorf("sequence %d: %s", seq, r.err)
					}
					return nil
				})
				if err != nil {
					return err
				}
				if r.present {
					entries[seq] = &history.LogEntry{Seq: seq, Value: r.value}
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		e.Type, e.Error = history.Info, err.Error()
		c.complete(rec, e)
		return nil, fmt.Errorf("final read through the leader: %w", err)
	}
	for _, en := range entries {
		if en != nil {
			e.Log = append(e.Log, *en)
		}
	}
	e.Type, e.Rev = history.OK, last
	c.complete(rec, e)
	return e.Log, nil
}

// readAllReplica reads the node's own copy with batched direct gets.
func (l *Log) readAllReplica(ctx context.Context, c *client, rec *history.Recorder, last uint64) error {
	e := l.event(c, history.FReadAll)
	e.ReadMode, e.Phase = ReadDirect, history.PhaseFinal
	rec.Record(e)
	seq := uint64(1)
	for seq <= last {
		var batch []history.LogEntry
		err := retryFor(ctx, func(ctx context.Context) error {
			var err error
			batch, err = directBatch(ctx, c.nc, seq, 1000)
			return err
		})
		if err != nil {
			e.Type, e.Error = history.Info, err.Error()
			c.complete(rec, e)
			return fmt.Errorf("final read of %s's replica: %w", c.node.Node, err)
		}
		if len(batch) == 0 {
			break // the replica ends here
		}
		e.Log = append(e.Log, batch...)
		seq = batch[len(batch)-1].Seq + 1
	}
	e.Type, e.Rev = history.OK, last
	c.complete(rec, e)
	return nil
}

// directBatch asks for up to n messages from seq on; the replies end with
// an end-of-batch status.
func directBatch(ctx context.Context, nc *nats.Conn, seq uint64, n int) ([]history.LogEntry, error) {
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(getRequest{Seq: seq, Batch: n})
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+LogStream, inbox, req); err != nil {
		return nil, err
	}
	var out []history.LogEntry
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, err
		}
		switch status := msg.Header.Get("Status"); status {
		case "":
			s, err := strconv.ParseUint(msg.Header.Get("Nats-Sequence"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("direct get reply without a sequence: %w", err)
			}
			out = append(out, history.LogEntry{Seq: s, Value: string(msg.Data)})
		case "204", "404":
			return out, nil // end of batch, or nothing from seq on
		default:
			return nil, fmt.Errorf("direct get: status %s %s", status, msg.Header.Get("Description"))
		}
	}
}

// retryFor retries f, each attempt within an operation timeout, until it
// succeeds or ctx ends.
func retryFor(ctx context.Context, f func(context.Context) error) error {
	return retry.Do(ctx, retryBackoff, retry.Each(5*time.Second, f))
}

// retryBackoff paces the workloads' retries of setup and final reads.
var retryBackoff = retry.Backoff{First: 100 * time.Millisecond, Max: time.Second}
