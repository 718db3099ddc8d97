// Package workload is the client side of a test: concurrent clients, each
// pinned to one node and doing one operation at a time, whose every
// invocation and completion goes into the history.
package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Endpoint is where one client connects: the node it talks to, and the URL
// that reaches it (through the client's own proxy).
type Endpoint struct {
	Node string
	URL  string
}

// Read modes accepted by KVOptions.ReadMode.
const (
	ReadLeader = history.ReadLeader
	ReadDirect = history.ReadDirect
	ReadMixed  = "mixed"
	ReadNone   = "none"
)

// KVOptions configure the KV register workload.
type KVOptions struct {
	// Clients has one endpoint per client; each client does one operation
	// at a time.
	Clients []Endpoint
	// Bucket is the KV bucket's name; its stream is "KV_" + Bucket.
	Bucket   string
	Replicas int
	// Keys is how many keys are in use at once; each is retired after
	// OpsPerKey operations and replaced by a fresh one, which keeps every
	// key's history small enough to check quickly.
	Keys      int
	OpsPerKey int
	// Rate caps operations per second over all clients; 0 is unlimited.
	Rate float64
	// ReadMode: leader, direct, mixed (drawn per read) or none (no reads
	// before the final phase).
	ReadMode  string
	OpTimeout time.Duration
	Seed      uint64
}

// KV is the KV register workload: reads, unique writes and compare-and-set
// on a replicated bucket.
type KV struct {
	o       KVOptions
	clients []*kvClient
	keys    *keyRing
	hints   *revHints
}

type kvClient struct {
	id      int
	node    Endpoint
	nc      *nats.Conn
	kv      jetstream.KeyValue
	process history.Process
	rng     *rand.Rand
	writes  int
}

// NewKV prepares the workload; Setup connects it.
func NewKV(o KVOptions) *KV {
	return &KV{o: o, keys: newKeyRing(o.Keys, o.OpsPerKey), hints: &revHints{m: map[string]uint64{}}}
}

// Stream is the name of the bucket's stream.
func (k *KV) Stream() string { return "KV_" + k.o.Bucket }

// Setup creates the bucket and connects every client to its node.
func (k *KV) Setup(ctx context.Context) error {
	if len(k.o.Clients) == 0 {
		return errors.New("no clients")
	}
	for i, ep := range k.o.Clients {
		nc, err := connect(ep, fmt.Sprintf("jetsam-kv-%d", i))
		if err != nil {
			k.Close()
			return err
		}
		k.clients = append(k.clients, &kvClient{
			id: i, node: ep, nc: nc, process: history.Process(i),
			rng: rand.New(rand.NewPCG(k.o.Seed, uint64(i)+1)),
		})
	}
	js, err := jetstream.New(k.clients[0].nc)
	if err != nil {
		k.Close()
		return fmt.Errorf("jetstream: %w", err)
	}
	// Creating the same bucket again is harmless, so a request that went
	// unanswered on a cluster that has only just formed is simply retried.
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = js.CreateKeyValue(actx, jetstream.KeyValueConfig{
			Bucket: k.o.Bucket, Replicas: k.o.Replicas, History: 1, Storage: jetstream.FileStorage,
		})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			k.Close()
			return fmt.Errorf("create bucket %s (%d attempts): %w", k.o.Bucket, attempt, err)
		}
		sleep(ctx, time.Second)
	}
	for _, c := range k.clients {
		if c.kv, err = bindBucket(ctx, c.nc, k.o.Bucket); err != nil {
			k.Close()
			return err
		}
	}
	return nil
}

func connect(ep Endpoint, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(ep.URL,
		nats.Name(name),
		nats.DontRandomize(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.Timeout(2*time.Second),
		nats.NoCallbacksAfterClientClose(),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to %s (%s): %w", ep.Node, ep.URL, err)
	}
	return nc, nil
}

func bindBucket(ctx context.Context, nc *nats.Conn, bucket string) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("bind bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// Close disconnects every client.
func (k *KV) Close() {
	for _, c := range k.clients {
		if c.nc != nil {
			c.nc.Close()
		}
	}
}

// Run drives every client until ctx ends. Operations in flight when it ends
// run to completion (or their own timeout) and are recorded.
func (k *KV) Run(ctx context.Context, rec *history.Recorder) error {
	lim := rate.NewLimiter(rate.Inf, 0)
	if k.o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(k.o.Rate), len(k.clients))
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range k.clients {
		g.Go(func() (err error) {
			defer recoverAsError(&err)
			for gctx.Err() == nil {
				if lim.Wait(gctx) != nil {
					return nil
				}
				k.step(c, rec)
			}
			return nil
		})
	}
	return g.Wait()
}

func recoverAsError(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("client panicked: %v", r)
	}
}

// step performs one random operation.
func (k *KV) step(c *kvClient, rec *history.Recorder) {
	key := k.keys.next(c.rng)
	var f string
	if k.o.ReadMode == ReadNone {
		f = []string{history.FWrite, history.FCAS}[c.rng.IntN(2)]
	} else {
		f = []string{history.FRead, history.FWrite, history.FCAS}[c.rng.IntN(3)]
	}
	switch f {
	case history.FRead:
		mode := k.o.ReadMode
		if mode == ReadMixed {
			mode = []string{ReadLeader, ReadDirect}[c.rng.IntN(2)]
		}
		k.read(c, rec, key, mode, history.PhaseMain)
	case history.FWrite:
		k.write(c, rec, key)
	case history.FCAS:
		k.cas(c, rec, key)
	}
}

func (k *KV) opContext() (context.Context, context.CancelFunc) {
	// Not derived from the run's context: an operation in flight when the
	// run ends completes, rather than being cut into an indeterminate one.
	return context.WithTimeout(context.Background(), k.o.OpTimeout)
}

func (k *KV) nextValue(c *kvClient) string {
	c.writes++
	return fmt.Sprintf("%d-%d", c.id, c.writes)
}

func (k *KV) event(c *kvClient, f, key string) history.Event {
	return history.Event{Type: history.Invoke, Process: c.process, F: f, Workload: "kv", Node: c.node.Node, Key: key}
}

// complete records a completion; after an indeterminate one the client takes
// a fresh process number, since the old operation may still be in flight.
func (k *KV) complete(c *kvClient, rec *history.Recorder, e history.Event) {
	rec.Record(e)
	if e.Type == history.Info {
		c.process += history.Process(len(k.clients))
	}
}

func (k *KV) write(c *kvClient, rec *history.Recorder, key string) {
	v := k.nextValue(c)
	e := k.event(c, history.FWrite, key)
	e.Value = &v
	rec.Record(e)
	ctx, cancel := k.opContext()
	rev, err := c.kv.Put(ctx, key, []byte(v))
	cancel()
	if err != nil {
		e.Type, e.Error = history.Info, err.Error()
	} else {
		e.Type, e.Rev = history.OK, rev
		k.hints.observe(key, rev)
	}
	k.complete(c, rec, e)
}

func (k *KV) cas(c *kvClient, rec *history.Recorder, key string) {
	v := k.nextValue(c)
	expect := k.hints.get(key)
	e := k.event(c, history.FCAS, key)
	e.Value, e.ExpectRev = &v, &expect
	rec.Record(e)
	ctx, cancel := k.opContext()
	rev, err := c.kv.Update(ctx, key, []byte(v), expect)
	cancel()
	switch {
	case err == nil:
		e.Type, e.Rev = history.OK, rev
		k.hints.observe(key, rev)
	case rejectedCAS(err):
		e.Type, e.Error = history.Fail, err.Error()
	default:
		e.Type, e.Error = history.Info, err.Error()
	}
	k.complete(c, rec, e)
}

// rejectedCAS reports errors that prove the stream leader refused the
// message: its expected revision was wrong or could not be checked.
func rejectedCAS(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamWrongLastSequence, // 10071
		jetstream.JSErrCodeStreamWrongLastSequenceConstant, // 10164
		errCodeExpectedLastSeqNotReady:                     // 10163
		return true
	}
	return false
}

// errCodeExpectedLastSeqNotReady: the new leader cannot yet check an expected
// per-subject sequence, and rejects the message.
const errCodeExpectedLastSeqNotReady jetstream.ErrorCode = 10163

func (k *KV) read(c *kvClient, rec *history.Recorder, key, mode, phase string) history.Event {
	e := k.event(c, history.FRead, key)
	e.ReadMode, e.Phase = mode, phase
	rec.Record(e)
	ctx, cancel := k.opContext()
	var r readResult
	if mode == ReadDirect {
		r = directGet(ctx, c.kv, key)
	} else {
		r = leaderGet(ctx, c.nc, k.o.Bucket, key)
	}
	cancel()
	e.Type, e.Error = r.typ, r.err
	if r.typ == history.OK && r.present {
		e.Value, e.Rev = &r.value, r.rev
		k.hints.observe(key, r.rev)
	}
	k.complete(c, rec, e)
	return e
}

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
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return readResult{typ: history.Fail, err: err.Error()}
	}
	return readResult{typ: history.Info, err: err.Error()}
}

// leaderGet asks the stream leader for the key's last message: the stream
// message-get API, which only the leader answers (the client library would use
// direct get, since KV buckets allow it).
func leaderGet(ctx context.Context, nc *nats.Conn, bucket, key string) readResult {
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + bucket + "." + key})
	msg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+bucket, req)
	if err != nil {
		return readResult{typ: history.Info, err: err.Error()}
	}
	var resp struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Message *struct {
			Seq  uint64 `json:"seq"`
			Data []byte `json:"data"`
			Hdrs []byte `json:"hdrs"`
		} `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return readResult{typ: history.Info, err: "undecodable reply: " + err.Error()}
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound):
		return readResult{typ: history.OK}
	case resp.Error != nil:
		return readResult{typ: history.Fail, err: fmt.Sprintf("%s (%d/%d)", resp.Error.Description, resp.Error.Code, resp.Error.ErrCode)}
	case resp.Message == nil:
		return readResult{typ: history.Info, err: "reply has neither message nor error"}
	case isDeleteMarker(resp.Message.Hdrs):
		return readResult{typ: history.OK}
	}
	return readResult{typ: history.OK, present: true, value: string(resp.Message.Data), rev: resp.Message.Seq}
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
	// One reader per node.
	var readers []*kvClient
	seen := map[string]bool{}
	for _, c := range k.clients {
		if !seen[c.node.Node] {
			seen[c.node.Node] = true
			readers = append(readers, c)
		}
	}
	var mu sync.Mutex
	next := 0
	g := new(errgroup.Group)
	for _, c := range readers {
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
				for attempt := 0; ; attempt++ {
					if ctx.Err() != nil {
						return fmt.Errorf("final read of %s did not succeed: %w", key, ctx.Err())
					}
					if e := k.read(c, rec, key, ReadLeader, history.PhaseFinal); e.Type == history.OK {
						break
					}
					sleep(ctx, time.Duration(min(attempt+1, 10))*100*time.Millisecond)
				}
			}
		})
	}
	return g.Wait()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
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
