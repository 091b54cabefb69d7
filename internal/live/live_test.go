package live_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/live"
	"github.com/incident-server/incident-server/internal/testenv"
)

// next waits for the subscription's next message.
func next(t *testing.T, sub *live.Subscription) live.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C:
		require.True(t, ok, "subscription closed")
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
	}
	return live.Message{}
}

func TestHubFansNoticesOut(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb, prefix := testenv.Redis(t)
	pub := live.NewPublisher(rdb, prefix, 0)
	// Published before any hub reads: not replayed to new subscribers.
	require.NoError(t, pub.Publish(ctx, live.Notice{IncidentID: "inc-old", Kind: live.KindChange, Seq: 1, Type: "opened"}))

	hub := live.NewHub(rdb, prefix, live.HubOptions{Block: 200 * time.Millisecond})
	t.Cleanup(hub.Close)
	all, up := hub.Subscribe("")
	require.True(t, up)
	one, _ := hub.Subscribe("inc-1")

	require.NoError(t, pub.Publish(ctx, live.Notice{IncidentID: "inc-2", Kind: live.KindChange, Seq: 1, Type: "opened"}))
	require.NoError(t, pub.Publish(ctx, live.Notice{IncidentID: "inc-1", Kind: live.KindEvent, Seq: 7, Type: "note"}))
	require.NoError(t, pub.Publish(ctx, live.Notice{IncidentID: "inc-1", Kind: live.KindAlerts, Type: "alerts"}))

	first, second, third := next(t, all).Notice, next(t, all).Notice, next(t, all).Notice
	require.Equal(t, "inc-2", first.IncidentID)
	require.Equal(t, live.Notice{ID: second.ID, IncidentID: "inc-1", Kind: live.KindEvent, Seq: 7, Type: "note"}, second)
	require.Equal(t, live.KindAlerts, third.Kind)
	require.Less(t, live.CompareIDs(first.ID, second.ID), 0, "in stream order")

	require.Equal(t, second, next(t, one).Notice, "an incident's subscription gets its notices only")
	require.Equal(t, third, next(t, one).Notice)

	// A reader that saw the first resumes after it.
	missed, complete, err := hub.After(ctx, first.ID, 100)
	require.NoError(t, err)
	require.True(t, complete)
	require.Equal(t, []live.Notice{second, third}, missed)

	one.Close()
	_, open := <-one.C
	require.False(t, open, "a closed subscription's channel is closed")
	hub.Close()
	_, open = <-all.C
	require.False(t, open, "closing the hub ends every subscription")
}

func TestAfterSaysWhenNoticesWereTrimmed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb, prefix := testenv.Redis(t)
	pub := live.NewPublisher(rdb, prefix, 0)
	hub := live.NewHub(rdb, prefix, live.HubOptions{})
	t.Cleanup(hub.Close)
	for range 3 {
		require.NoError(t, pub.Publish(ctx, live.Notice{IncidentID: "inc", Kind: live.KindEvent}))
	}
	msgs, err := rdb.XRange(ctx, live.StreamKey(prefix), "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	require.NoError(t, rdb.XTrimMaxLen(ctx, live.StreamKey(prefix), 1).Err())

	_, complete, err := hub.After(ctx, msgs[0].ID, 100)
	require.NoError(t, err)
	require.False(t, complete, "what followed the first notice is gone: the reader must reload")
	got, complete, err := hub.After(ctx, msgs[2].ID, 100)
	require.NoError(t, err)
	require.True(t, complete)
	require.Empty(t, got)
	require.True(t, live.ValidID(msgs[2].ID))
	require.False(t, live.ValidID("12-x"))
}

func TestHubWithRedisDownSaysSo(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := l.Addr().String()
	require.NoError(t, l.Close())
	rdb := redis.NewClient(&redis.Options{Addr: dead, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })

	hub := live.NewHub(rdb, "test:", live.HubOptions{Retry: 50 * time.Millisecond})
	t.Cleanup(hub.Close)
	sub, up := hub.Subscribe("")
	require.False(t, up, "a hub that cannot read the stream says live updates are off")
	require.False(t, hub.Live())
	require.Error(t, live.NewPublisher(rdb, "test:", 0).Publish(t.Context(), live.Notice{IncidentID: "x"}))
	select {
	case m := <-sub.C:
		t.Fatalf("no message while Redis stays down, got %+v", m)
	case <-time.After(200 * time.Millisecond):
	}
}

// proxy forwards loopback connections to Redis until it is cut, and can
// be brought back on the same address: Redis going away and returning.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	l      net.Listener
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *proxy) up() {
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	require.NoError(p.t, err)
	p.addr, p.l = l.Addr().String(), l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, r)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(r, c); r.Close() }()
			go func() { _, _ = io.Copy(c, r); c.Close() }()
		}
	}()
}

func (p *proxy) down() {
	_ = p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func TestHubReportsRedisGoingAndComing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	direct, prefix := testenv.Redis(t)
	p := newProxy(t, testenv.RedisAddr(t))
	rdb := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	hub := live.NewHub(rdb, prefix, live.HubOptions{Block: 100 * time.Millisecond, Retry: 50 * time.Millisecond})
	t.Cleanup(hub.Close)
	sub, up := hub.Subscribe("")
	require.True(t, up)

	p.down()
	m := next(t, sub)
	require.Equal(t, live.Message{Status: true, Live: false}, m, "the hub says when it lost Redis")
	p.up()
	m = next(t, sub)
	require.Equal(t, live.Message{Status: true, Live: true}, m, "and when it is back")

	require.NoError(t, live.NewPublisher(direct, prefix, 0).Publish(ctx, live.Notice{IncidentID: "after", Kind: live.KindChange}))
	require.Equal(t, "after", next(t, sub).Notice.IncidentID, "notices flow again")
}
