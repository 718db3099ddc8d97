package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/retry"
	"github.com/jetsam-dev/jetsam/param"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// KVBucket is the KV bucket the register workload uses; its stream is
// "KV_" + KVBucket.
const KVBucket = "jetsam"

// KVSettings are the KV workload's own.
type KVSettings struct {
	// Keys is how many keys are in use at once; each is retired after
	// OpsPerKey operations and replaced by a fresh one, which keeps every
	// key's history small enough to check quickly.
	Keys      int `json:"keys"`
	OpsPerKey int `json:"ops_per_key"`
}

var kvKind = Kind{Name: NameKV, Reads: true,
	New: func(o Options) Workload { return NewKV(o) },
	Params: []Param{
		param.IntOf("keys", "keys in use at once", func(s *WorkloadSettings) *int { return &s.Keys }),
		param.IntOf("ops-per-key", "operations after which a key is retired for a fresh one, keeping each key's history quick to check (0: never)", func(s *WorkloadSettings) *int { return &s.OpsPerKey }),
	},
	Validate: func(s *WorkloadSettings) error {
		switch {
		case s.Keys < 1 || s.Keys > 100000:
			return fmt.Errorf("--keys must be between 1 and 100000, got %d", s.Keys)
		case s.OpsPerKey < 0:
			return fmt.Errorf("--ops-per-key must not be negative (0 never retires a key), got %d", s.OpsPerKey)
		}
		return nil
	},
}

// KV is the KV register workload: reads, writes of unique values,
// compare-and-set, create and delete on a replicated bucket.
type KV struct {
	o       Options
	clients []*kvClient
	keys    *keyRing
	hints   *revHints
}

type kvClient struct {
	*client
	kv     jetstream.KeyValue
	stream jetstream.Stream // the bucket's stream, for create's lookup
}

// NewKV prepares the workload; Setup connects it.
func NewKV(o Options) *KV {
	return &KV{o: o, keys: newKeyRing(o.Keys, o.OpsPerKey), hints: &revHints{m: map[string]uint64{}}}
}

func (k *KV) Name() string { return NameKV }

// Stream is the name of the bucket's stream.
func (k *KV) Stream() string { return "KV_" + KVBucket }

// Setup creates the bucket and connects every client to its node.
func (k *KV) Setup(ctx context.Context) error {
	cs, err := connectAll(k.o, NameKV)
	if err != nil {
		return err
	}
	for _, c := range cs {
		k.clients = append(k.clients, &kvClient{client: c})
	}
	err = createStream(ctx, func(ctx context.Context) error {
		_, err := cs[0].js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: KVBucket, Replicas: k.o.Replicas, History: 1, Storage: jetstream.FileStorage,
		})
		return err
	})
	if err != nil {
		k.Close()
		return fmt.Errorf("create bucket %s: %w", KVBucket, err)
	}
	// A request for the stream's info can go unanswered while the new
	// stream elects its leader: each attempt is short, and retried.
	for _, c := range k.clients {
		err := retryFor(ctx, func(ctx context.Context) error {
			var err error
			if c.kv, err = c.js.KeyValue(ctx, KVBucket); err != nil {
				return err
			}
			c.stream, err = c.js.Stream(ctx, k.Stream())
			return err
		})
		if err != nil {
			k.Close()
			return fmt.Errorf("bind bucket %s: %w", KVBucket, err)
		}
	}
	return nil
}

// Close disconnects every client.
func (k *KV) Close() {
	for _, c := range k.clients {
		closeAll([]*client{c.client})
	}
}

// Run drives every client until ctx ends.
func (k *KV) Run(ctx context.Context, rec *history.Recorder) error {
	cs := make([]*client, len(k.clients))
	byID := map[*client]*kvClient{}
	for i, c := range k.clients {
		cs[i], byID[c.client] = c.client, c
	}
	return drive(ctx, cs, k.o.Rate, func(c *client) { k.step(byID[c], rec) })
}

// Operation mix, in tenths: reads, writes, compare-and-set, create, delete.
var kvMix = []struct {
	f      string
	weight int
}{{history.FRead, 3}, {history.FWrite, 2}, {history.FCAS, 2}, {history.FCreate, 2}, {history.FDelete, 1}}

// step performs one random operation.
func (k *KV) step(c *kvClient, rec *history.Recorder) {
	key := k.keys.next(c.rng)
	if c.readOnly {
		e := k.read(c, rec, key, readMode(k.o.ReadMode, c.rng), history.PhaseMain)
		c.pauseAfter(e)
		return
	}
	total := 0
	for _, m := range kvMix {
		if m.f != history.FRead || k.o.ReadMode != ReadNone {
			total += m.weight
		}
	}
	n := c.rng.IntN(total)
	f := ""
	for _, m := range kvMix {
		if m.f == history.FRead && k.o.ReadMode == ReadNone {
			continue
		}
		if n -= m.weight; n < 0 {
			f = m.f
			break
		}
	}
	switch f {
	case history.FRead:
		k.read(c, rec, key, readMode(k.o.ReadMode, c.rng), history.PhaseMain)
	case history.FDelete:
		k.delete(c, rec, key)
	default:
		k.write(c, rec, f, key)
	}
}

func (k *KV) event(c *kvClient, f, key string) history.Event {
	return history.Event{Type: history.Invoke, Process: c.process, F: f, Workload: NameKV, Node: c.node.Node, Key: key}
}

// write puts, compare-and-sets (at the newest revision seen) or creates a
// unique value.
func (k *KV) write(c *kvClient, rec *history.Recorder, f, key string) {
	v := c.nextValue()
	e := k.event(c, f, key)
	e.Value = &v
	expect := k.hints.get(key)
	if f == history.FCAS {
		e.ExpectRev = &expect
	}
	inv := rec.Record(e)
	ctx, cancel := opContext(time.Duration(k.o.OpTimeout))
	var rev uint64
	var err error
	switch f {
	case history.FWrite:
		rev, err = k.put(ctx, c, rec, inv.Index, key, v, nil)
	case history.FCAS:
		rev, err = k.put(ctx, c, rec, inv.Index, key, v, &expect)
	default:
		rev, err = k.create(ctx, c, rec, inv.Index, key, v)
	}
	cancel()
	switch {
	case err == nil:
		e.Type, e.Rev = history.OK, rev
		k.hints.observe(key, rev)
	case f != history.FWrite && rejected(err):
		e.Type, e.Error = history.Fail, err.Error()
	default:
		e.Type, e.Error = history.Info, err.Error()
	}
	c.complete(rec, e)
}

// delete publishes the key's delete marker, as the client library's Delete
// does, keeping the acknowledgement so the marker's revision is known.
func (k *KV) delete(c *kvClient, rec *history.Recorder, key string) {
	e := k.event(c, history.FDelete, key)
	inv := rec.Record(e)
	ctx, cancel := opContext(time.Duration(k.o.OpTimeout))
	msg := nats.NewMsg(k.subject(key))
	msg.Header.Set(kvOperation, "DEL")
	ack, err := c.publish(ctx, rec, inv.Index, msg)
	cancel()
	if err != nil {
		e.Type, e.Error = history.Info, err.Error()
	} else {
		e.Type, e.Rev = history.OK, ack.Sequence
		k.hints.observe(key, ack.Sequence)
	}
	c.complete(rec, e)
}

// kvOperation is the header that marks deletes and purges.
const kvOperation = "KV-Operation"

func (k *KV) subject(key string) string { return "$KV." + KVBucket + "." + key }

// put writes v as the client library's Put (expect nil) or Update (expect
// the key's revision) does, through the client's own publish.
func (k *KV) put(ctx context.Context, c *kvClient, rec *history.Recorder, invoke int, key, v string, expect *uint64) (uint64, error) {
	m := nats.NewMsg(k.subject(key))
	m.Data = []byte(v)
	if expect != nil {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(*expect, 10))
	}
	ack, err := c.publish(ctx, rec, invoke, m)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// create is the client library's Create, which is not one atomic step: a
// write expecting no message; when that fails for any reason, a look at the
// key's last message, and if it is a delete marker, a write expecting it.
func (k *KV) create(ctx context.Context, c *kvClient, rec *history.Recorder, invoke int, key, v string) (uint64, error) {
	var none uint64
	rev, err := k.put(ctx, c, rec, invoke, key, v, &none)
	if err == nil {
		return rev, nil
	}
	last, gerr := c.stream.GetLastMsgForSubject(ctx, k.subject(key))
	if gerr == nil && isDeleteOp(last.Header.Get(kvOperation)) {
		return k.put(ctx, c, rec, invoke, key, v, &last.Sequence)
	}
	return 0, err
}

func isDeleteOp(op string) bool { return op == "DEL" || op == "PURGE" }

func (k *KV) read(c *kvClient, rec *history.Recorder, key, mode, phase string) history.Event {
	e := k.event(c, history.FRead, key)
	e.ReadMode, e.Phase = mode, phase
	rec.Record(e)
	ctx, cancel := opContext(time.Duration(k.o.OpTimeout))
	var r readResult
	if mode == ReadDirect {
		r = directGet(ctx, c.kv, key)
	} else {
		r = leaderGet(ctx, c.nc, KVBucket, key)
	}
	cancel()
	e.Type, e.Error, e.Rev = r.typ, r.err, r.rev
	if r.typ == history.OK && r.present {
		e.Value = &r.value
	}
	if r.rev > 0 {
		k.hints.observe(key, r.rev)
	}
	return c.complete(rec, e)
}

// readResult is what a read saw. rev is the revision of the key's last
// message, also when that message is a delete marker (leader reads).
type readResult struct {
	typ     history.Type
	present bool
	value   string
	rev     uint64
	err     string
}

func directGet(ctx context.Context, kv jetstream.KeyValue, key string) readResult {
	entry, err := kv.Get(ctx, key)
	switch {
	case err == nil:
		return readResult{typ: history.OK, present: true, value: string(entry.Value()), rev: entry.Revision()}
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return readResult{typ: history.OK}
	}
	return readResult{typ: errorType(err), err: err.Error()}
}

// leaderGet asks the stream leader for the key's last message: the stream
// message-get API, which only the leader answers (the client library would use
// direct get, since KV buckets allow it).
func leaderGet(ctx context.Context, nc *nats.Conn, bucket, key string) readResult {
	m, r := messageGet(ctx, nc, "KV_"+bucket, map[string]string{"last_by_subj": "$KV." + bucket + "." + key})
	switch {
	case m == nil:
		return r
	case isDeleteMarker(m.Hdrs):
		return readResult{typ: history.OK, rev: m.Seq}
	}
	return readResult{typ: history.OK, present: true, value: string(m.Data), rev: m.Seq}
}

func isDeleteMarker(hdrs []byte) bool {
	h := string(hdrs)
	return strings.Contains(h, "KV-Operation: DEL") || strings.Contains(h, "KV-Operation: PURGE")
}

// Final reads every key the run used once more, through the stream leader,
// retrying each until it succeeds or ctx ends. These reads judge what
// survived the faults.
func (k *KV) Final(ctx context.Context, rec *history.Recorder) error {
	keys := k.keys.all()
	var mu sync.Mutex
	next := 0
	g := new(errgroup.Group)
	byClient := map[*client]*kvClient{}
	var cs []*client
	for _, c := range k.clients {
		byClient[c.client] = c
		cs = append(cs, c.client)
	}
	for _, pc := range perNode(cs) {
		c := byClient[pc]
		g.Go(func() (err error) {
			defer recoverAsError(&err)
			for {
				mu.Lock()
				if next >= len(keys) {
					mu.Unlock()
					return nil
				}
				key := keys[next]
				next++
				mu.Unlock()
				if err := retry.Do(ctx, retryBackoff, func(context.Context) error {
					if e := k.read(c, rec, key, ReadLeader, history.PhaseFinal); e.Type != history.OK {
						return errors.New(e.Error)
					}
					return nil
				}); err != nil {
					return fmt.Errorf("final read of %s did not succeed: %w", key, err)
				}
			}
		})
	}
	return g.Wait()
}

// keyRing hands out keys: Keys slots, each retired after opsPerKey uses.
type keyRing struct {
	mu        sync.Mutex
	slots     []keySlot
	nextID    int
	opsPerKey int
}

type keySlot struct {
	id, ops int
}

func newKeyRing(keys, opsPerKey int) *keyRing {
	r := &keyRing{slots: make([]keySlot, keys), nextID: keys, opsPerKey: opsPerKey}
	for i := range r.slots {
		r.slots[i].id = i
	}
	return r
}

func (r *keyRing) next(rng *rand.Rand) string {
	i := rng.IntN(len(r.slots))
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.slots[i]
	key := keyName(s.id)
	s.ops++
	if r.opsPerKey > 0 && s.ops >= r.opsPerKey {
		*s = keySlot{id: r.nextID}
		r.nextID++
	}
	return key
}

// all lists every key handed out so far.
func (r *keyRing) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id := 0; id < r.nextID; id++ {
		out = append(out, keyName(id))
	}
	return out
}

func keyName(id int) string { return fmt.Sprintf("k%d", id) }

// revHints remembers the newest revision seen per key, so compare-and-set
// usually expects the current revision.
type revHints struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (h *revHints) observe(key string, rev uint64) {
	h.mu.Lock()
	if rev > h.m[key] {
		h.m[key] = rev
	}
	h.mu.Unlock()
}

func (h *revHints) get(key string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[key]
}
