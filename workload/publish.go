package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// replies receives the answers to one client's publishes on one wildcard
// inbox, as the client library's request multiplexer does, but it keeps
// listening after the first answer. A publish can be answered twice: a
// stream leader deposed by a partition still listens on the stream's
// subjects until it hears of its successor, so both answer, each from its
// own state. The first answer decides the outcome, as it does for a client
// library user; every further answer is recorded as an observer event, the
// evidence an anomaly report needs.
type replies struct {
	prefix string
	sub    *nats.Subscription

	mu      sync.Mutex
	rec     *history.Recorder
	next    uint64
	pending map[string]chan *nats.Msg
	done    map[string]answered
	expiry  []string // done's tokens, oldest first
}

// answered is a request whose outcome is decided; later answers to it are
// extra replies.
type answered struct {
	invoke int
	at     time.Time
}

// keepAnswered is how long extra replies are waited for: a deposed leader
// answers as soon as the request reaches it, which can be after a heal.
const keepAnswered = 30 * time.Second

func newReplies(nc *nats.Conn) (*replies, error) {
	r := &replies{
		prefix:  nc.NewRespInbox() + ".",
		pending: map[string]chan *nats.Msg{},
		done:    map[string]answered{},
	}
	sub, err := nc.Subscribe(r.prefix+"*", r.handle)
	if err != nil {
		return nil, fmt.Errorf("subscribe to replies: %w", err)
	}
	r.sub = sub
	return r, nil
}

// stop ends recording: the history may be closed next.
func (r *replies) stop() {
	r.mu.Lock()
	r.rec = nil
	r.mu.Unlock()
}

func (r *replies) handle(m *nats.Msg) {
	token := m.Subject[len(r.prefix):]
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.pending[token]; ok {
		select {
		case ch <- m:
		default: // more answers than anyone will read
		}
		return
	}
	if a, ok := r.done[token]; ok {
		r.extra(a.invoke, m)
	}
}

// extra records an extra reply; r.mu is held.
func (r *replies) extra(invoke int, m *nats.Msg) {
	if r.rec == nil || isNoResponders(m) {
		return
	}
	e := history.Event{Type: history.OK, Process: history.Observer, F: history.FReply, Of: &invoke}
	ack, err := decodeAck(m)
	if err != nil {
		e.Type, e.Error = history.Fail, err.Error()
	} else {
		e.Rev = ack.Sequence
	}
	r.rec.Record(e)
}

// open registers a new request, whose extra replies go to rec.
func (r *replies) open(rec *history.Recorder) (token string, ch chan *nats.Msg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec = rec
	now := time.Now()
	for len(r.expiry) > 0 && now.Sub(r.done[r.expiry[0]].at) > keepAnswered {
		delete(r.done, r.expiry[0])
		r.expiry = r.expiry[1:]
	}
	r.next++
	token = strconv.FormatUint(r.next, 36)
	ch = make(chan *nats.Msg, 4)
	r.pending[token] = ch
	return token, ch
}

// settle marks a request decided: answers already queued beyond the first
// are extra replies, and so is every later one.
func (r *replies) settle(token string, invoke int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.pending[token]
	delete(r.pending, token)
	for {
		select {
		case m := <-ch:
			r.extra(invoke, m)
			continue
		default:
		}
		break
	}
	r.done[token] = answered{invoke: invoke, at: time.Now()}
	r.expiry = append(r.expiry, token)
}

// Retries after "no responders" (nobody listened, so nothing was stored),
// as the client library does: a leader election leaves the subjects
// without a listener for a moment.
const (
	noResponderRetries = 2
	noResponderWait    = 250 * time.Millisecond
)

// publish sends m to its stream and waits for the first answer, which
// decides the outcome exactly as the client library's publish would
// (errors are the library's too, so they classify the same way). invoke is
// the history index of the operation's invocation, which extra replies name.
func (c *client) publish(ctx context.Context, rec *history.Recorder, invoke int, m *nats.Msg) (*jetstream.PubAck, error) {
	token, ch := c.replies.open(rec)
	defer c.replies.settle(token, invoke)
	m.Reply = c.replies.prefix + token
	for attempt := 0; ; attempt++ {
		if err := c.nc.PublishMsg(m); err != nil {
			return nil, err
		}
		select {
		case resp := <-ch:
			if !isNoResponders(resp) {
				return decodeAck(resp)
			}
			if attempt == noResponderRetries {
				return nil, jetstream.ErrNoStreamResponse
			}
			sleep(ctx, noResponderWait)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func isNoResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") == "503"
}

// decodeAck reads a publish acknowledgement, with the client library's
// errors.
func decodeAck(m *nats.Msg) (*jetstream.PubAck, error) {
	var resp struct {
		jetstream.PubAck
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, jetstream.ErrInvalidJSAck
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("nats: %w", resp.Error)
	}
	if resp.Stream == "" {
		return nil, jetstream.ErrInvalidJSAck
	}
	return &resp.PubAck, nil
}
