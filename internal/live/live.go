// Package live fans changes of incidents out to the web console's open
// pages, across API replicas, through one Redis Stream.
//
// The projection activities publish a small Notice after each Postgres
// commit (XADD … MAXLEN ~ N): which incident, the highest timeline
// sequence the write recorded, and what kind of write it was. Every API
// replica runs one Hub that reads the stream (XREAD BLOCK) and hands each
// notice to the browsers connected to it. Notices carry no data: readers
// fetch what changed from Postgres, so Redis is never the source of truth.
// Publishing is best effort; with Redis down the hub reports itself down
// and the console polls the REST API instead.
//
// Resuming: the incident list resumes from the last stream entry ID a
// browser saw (XRANGE from it), an incident page from the last timeline
// sequence it saw (Postgres).
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Kind says what a write changed.
type Kind string

const (
	// KindChange: a new version of the incident (opened, a status change),
	// with its timeline events. The incident list cares about these only.
	KindChange Kind = "change"
	// KindEvent: timeline events that change no state (a note, a page
	// sent, an SLA warning).
	KindEvent Kind = "event"
	// KindAlerts: the incident's alerts (fingerprints) changed.
	KindAlerts Kind = "alerts"
)

// Notice says that an incident's record changed in Postgres.
type Notice struct {
	// ID is the stream entry's ID; set by readers, ignored by Publish.
	ID         string `json:"id,omitempty"`
	IncidentID string `json:"incident_id"`
	Kind       Kind   `json:"kind"`
	// Seq is the highest timeline sequence the write recorded; 0 when it
	// recorded no event (alerts).
	Seq int64 `json:"seq,omitempty"`
	// Type is the (first) event type the write recorded, or "alerts".
	Type string `json:"type,omitempty"`
}

// StreamKey is the stream's key under a Redis key prefix.
func StreamKey(prefix string) string { return prefix + "live:incidents" }

// DefaultMaxLen is how many notices the stream keeps (approximately: XADD
// MAXLEN ~ trims whole macro nodes) when no length is configured: enough
// for a browser that lost its connection for minutes during an alert
// storm to resume instead of reloading.
const DefaultMaxLen = 10000

// publishTimeout bounds one XADD. Publishing runs inside the projection's
// local activity, after Postgres committed: a slow Redis must not hold up
// the workflow task for long.
const publishTimeout = time.Second

// Publisher appends notices to the stream.
type Publisher struct {
	rdb    redis.UniversalClient
	key    string
	maxLen int64
}

// NewPublisher returns a publisher to the stream under prefix, keeping
// about maxLen notices (DefaultMaxLen when zero or negative).
func NewPublisher(rdb redis.UniversalClient, prefix string, maxLen int64) *Publisher {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	return &Publisher{rdb: rdb, key: StreamKey(prefix), maxLen: maxLen}
}

// Publish appends n to the stream. The caller logs a failure and goes on:
// a lost notice delays a live view, it never loses data.
func (p *Publisher) Publish(ctx context.Context, n Notice) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	err := p.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: p.key,
		MaxLen: p.maxLen,
		Approx: true,
		Values: []any{"incident", n.IncidentID, "kind", string(n.Kind), "seq", n.Seq, "type", n.Type},
	}).Err()
	if err != nil {
		return fmt.Errorf("publish notice of %s: %w", n.IncidentID, err)
	}
	return nil
}

func decode(m redis.XMessage) Notice {
	n := Notice{ID: m.ID}
	n.IncidentID, _ = m.Values["incident"].(string)
	kind, _ := m.Values["kind"].(string)
	n.Kind = Kind(kind)
	seq, _ := m.Values["seq"].(string)
	n.Seq, _ = strconv.ParseInt(seq, 10, 64)
	n.Type, _ = m.Values["type"].(string)
	return n
}

// Message is what a subscription receives: a notice, or a change of the
// hub's state (Status set), after which Live says whether notices flow.
type Message struct {
	Notice Notice
	Status bool
	Live   bool
}

// Subscription receives the messages of one incident, or of all.
type Subscription struct {
	// C is closed when the subscription or the hub is closed.
	C <-chan Message

	c        chan Message
	incident string
	hub      *Hub
	lagged   atomic.Bool
	once     sync.Once
}

// Lagged reports, and clears, whether the hub dropped messages because the
// subscriber read too slowly. A subscriber that lagged reloads what it
// shows.
func (s *Subscription) Lagged() bool { return s.lagged.Swap(false) }

// Close ends the subscription.
func (s *Subscription) Close() { s.hub.unsubscribe(s) }

// HubOptions tune a hub. The zero value is valid.
type HubOptions struct {
	// Block is how long one XREAD waits for entries. Default 2 s.
	Block time.Duration
	// Retry is the wait before reading again after Redis failed. Default 1 s.
	Retry time.Duration
	// Buffer is each subscription's queue length. Default 256.
	Buffer int
	// Logger for Redis failures (once per outage). Default: discarded.
	Logger *slog.Logger
}

// Hub reads the stream for one API process and fans notices out to its
// subscriptions. It starts reading at the first Subscribe and stops at
// Close.
type Hub struct {
	rdb  redis.UniversalClient
	key  string
	opts HubOptions

	start  sync.Once
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
	live   bool
}

// NewHub returns a hub reading the stream under prefix.
func NewHub(rdb redis.UniversalClient, prefix string, opts HubOptions) *Hub {
	if opts.Block <= 0 {
		opts.Block = 2 * time.Second
	}
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{rdb: rdb, key: StreamKey(prefix), opts: opts, ctx: ctx, cancel: cancel,
		subs: map[*Subscription]struct{}{}}
}

// Subscribe returns a subscription to the notices of incident, or of every
// incident when incident is "". live reports whether the hub reads the
// stream now; the subscription receives a status message when that
// changes. Subscribing to a closed hub returns a closed subscription.
func (h *Hub) Subscribe(incident string) (sub *Subscription, live bool) {
	c := make(chan Message, h.opts.Buffer)
	sub = &Subscription{C: c, c: c, incident: incident, hub: h}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(c)
		return sub, false
	}
	h.subs[sub] = struct{}{}
	h.mu.Unlock()
	h.start.Do(func() {
		ready := make(chan struct{})
		go h.run(ready)
		// The first read position is taken before Subscribe returns, so a
		// notice published after it is never missed.
		<-ready
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	return sub, h.live
}

func (h *Hub) unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.c)
	}
}

// Live reports whether the hub reads the stream now.
func (h *Hub) Live() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.live
}

// Close stops the hub and closes every subscription, so the streams
// serving them end. It does not wait for the reader, which notices within
// one Block.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.c)
	}
	h.mu.Unlock()
	h.cancel()
}

// run reads the stream until the hub closes. It starts after the stream's
// last entry and then asks for entries after the last one it read, so no
// entry appended while it ran is missed, even across Redis failures.
func (h *Hub) run(ready chan struct{}) {
	last, err := h.lastID(h.ctx)
	// Subscribers learn the first state from Subscribe's answer, not from a
	// status message.
	h.mu.Lock()
	h.live = err == nil
	h.mu.Unlock()
	close(ready)
	failing := err != nil
	if failing {
		h.opts.Logger.Warn("live updates: redis unreachable; the console polls until it is back", "error", err)
	}
	for h.ctx.Err() == nil {
		if last == "" {
			if last, err = h.lastID(h.ctx); err != nil {
				failing = h.failed(failing, err)
				continue
			}
		}
		streams, err := h.rdb.XRead(h.ctx, &redis.XReadArgs{
			Streams: []string{h.key, last}, Block: h.opts.Block, Count: 512,
		}).Result()
		if errors.Is(err, redis.Nil) {
			if failing {
				failing = h.recovered()
			}
			continue
		}
		if err != nil {
			failing = h.failed(failing, err)
			continue
		}
		if failing {
			failing = h.recovered()
		}
		for _, s := range streams {
			for _, m := range s.Messages {
				last = m.ID
				h.deliver(decode(m))
			}
		}
	}
}

// lastID is the ID of the stream's newest entry, "0-0" for an empty
// stream.
func (h *Hub) lastID(ctx context.Context) (string, error) {
	msgs, err := h.rdb.XRevRangeN(ctx, h.key, "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("read live stream: %w", err)
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

func (h *Hub) failed(already bool, err error) bool {
	if h.ctx.Err() != nil {
		return already
	}
	if !already {
		h.opts.Logger.Warn("live updates: redis unreachable; the console polls until it is back", "error", err)
		h.setLive(false)
	}
	select {
	case <-h.ctx.Done():
	case <-time.After(h.opts.Retry):
	}
	return true
}

func (h *Hub) recovered() bool {
	h.opts.Logger.Info("live updates: redis reachable again")
	h.setLive(true)
	return false
}

func (h *Hub) setLive(live bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.live == live {
		return
	}
	h.live = live
	for s := range h.subs {
		h.send(s, Message{Status: true, Live: live})
	}
}

func (h *Hub) deliver(n Notice) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.incident == "" || s.incident == n.IncidentID {
			h.send(s, Message{Notice: n})
		}
	}
}

// send queues m for s without blocking the reader: a full queue drops it
// and marks s lagged. Called with h.mu held.
func (h *Hub) send(s *Subscription, m Message) {
	select {
	case s.c <- m:
	default:
		s.lagged.Store(true)
	}
}

// After is the catch-up of a stream reader that resumes: up to count
// notices after entry id, oldest first. complete is false when entries
// after id may have been trimmed from the stream already (id is older
// than the oldest entry kept): the reader has missed notices and must
// reload instead.
func (h *Hub) After(ctx context.Context, id string, count int64) (notices []Notice, complete bool, err error) {
	first, err := h.rdb.XRangeN(ctx, h.key, "-", "+", 1).Result()
	if err != nil {
		return nil, false, fmt.Errorf("read live stream: %w", err)
	}
	if len(first) > 0 && CompareIDs(first[0].ID, id) > 0 {
		// The oldest entry kept is newer than id: whatever came between
		// them is gone, unless it is the very next entry, which we cannot
		// tell. Be safe.
		return nil, false, nil
	}
	msgs, err := h.rdb.XRangeN(ctx, h.key, "("+id, "+", count).Result()
	if err != nil {
		return nil, false, fmt.Errorf("read live stream after %s: %w", id, err)
	}
	out := make([]Notice, len(msgs))
	for i, m := range msgs {
		out[i] = decode(m)
	}
	return out, true, nil
}

// ValidID reports whether id is a stream entry ID (<ms>-<seq>).
func ValidID(id string) bool {
	_, _, ok := parseID(id)
	return ok
}

func parseID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}

// CompareIDs orders two stream IDs (-1, 0, 1); malformed ones sort first.
func CompareIDs(a, b string) int {
	am, as, _ := parseID(a)
	bm, bs, _ := parseID(b)
	switch {
	case am != bm:
		if am < bm {
			return -1
		}
		return 1
	case as != bs:
		if as < bs {
			return -1
		}
		return 1
	}
	return 0
}
