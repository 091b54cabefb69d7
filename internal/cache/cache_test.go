package cache_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/testenv"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)

func sample(id string, version int64) incident.Incident {
	ackAt := t0.Add(time.Minute)
	return incident.Incident{
		ID:             id,
		WorkflowID:     "incident/" + id,
		Title:          "checkout latency above SLO",
		Service:        "checkout",
		Severity:       incident.SeverityCritical,
		Status:         incident.StatusAcknowledged,
		DedupKey:       "checkout:latency",
		CreatedAt:      t0,
		UpdatedAt:      ackAt,
		AcknowledgedAt: &ackAt,
		AcknowledgedBy: "alice",
		Version:        version,
	}
}

func TestSetGetRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb, prefix := testenv.Redis(t)
	const ttl = time.Minute
	c := cache.New(rdb, prefix, ttl)
	require.NoError(t, c.Ping(ctx))

	inc := sample("inc-1", 2)
	require.NoError(t, c.SetIncident(ctx, inc))

	got, ok, err := c.GetIncident(ctx, inc.ID)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, inc, got)

	pttl, err := rdb.PTTL(ctx, prefix+"incident:inc-1").Result()
	require.NoError(t, err)
	require.Positive(t, pttl)
	require.LessOrEqual(t, pttl, ttl)
}

func TestSetIncidentKeepsNewerVersion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb, prefix := testenv.Redis(t)
	c := cache.New(rdb, prefix, time.Minute)
	key := prefix + "incident:inc-1"

	v2 := sample("inc-1", 2)
	require.NoError(t, c.SetIncident(ctx, v2))

	v1 := sample("inc-1", 1)
	v1.Status = incident.StatusOpen
	require.NoError(t, rdb.PExpire(ctx, key, time.Second).Err())
	require.NoError(t, c.SetIncident(ctx, v1), "an older write is ignored, not an error")
	got, ok, err := c.GetIncident(ctx, "inc-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(2), got.Version)
	require.Equal(t, incident.StatusAcknowledged, got.Status)
	pttl, err := rdb.PTTL(ctx, key).Result()
	require.NoError(t, err)
	require.LessOrEqual(t, pttl, time.Second, "an ignored write does not extend the entry's life")

	sameVersion := sample("inc-1", 2)
	sameVersion.Title = "rewritten"
	require.NoError(t, c.SetIncident(ctx, sameVersion))
	got, _, err = c.GetIncident(ctx, "inc-1")
	require.NoError(t, err)
	require.Equal(t, v2.Title, got.Title, "a write of the stored version is ignored")

	v3 := sample("inc-1", 3)
	v3.Status = incident.StatusResolved
	require.NoError(t, c.SetIncident(ctx, v3))
	got, ok, err = c.GetIncident(ctx, "inc-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(3), got.Version)
	require.Equal(t, incident.StatusResolved, got.Status)
	pttl, err = rdb.PTTL(ctx, key).Result()
	require.NoError(t, err)
	require.Greater(t, pttl, time.Second, "an accepted write restarts the TTL")
}

func TestGetIncidentMiss(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	c := cache.New(rdb, prefix, time.Minute)

	_, ok, err := c.GetIncident(t.Context(), "never-cached")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestDeleteIncident(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb, prefix := testenv.Redis(t)
	c := cache.New(rdb, prefix, time.Minute)

	require.NoError(t, c.SetIncident(ctx, sample("inc-1", 5)))
	require.NoError(t, c.DeleteIncident(ctx, "inc-1"))
	_, ok, err := c.GetIncident(ctx, "inc-1")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, c.DeleteIncident(ctx, "inc-1"), "deleting a missing entry is not an error")

	require.NoError(t, c.SetIncident(ctx, sample("inc-1", 1)))
	got, ok, err := c.GetIncident(ctx, "inc-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(1), got.Version, "after a delete any version is accepted")
}

func TestPrefixesIsolate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb, prefix := testenv.Redis(t)
	a := cache.New(rdb, prefix+"a:", time.Minute)
	b := cache.New(rdb, prefix+"b:", time.Minute)

	require.NoError(t, a.SetIncident(ctx, sample("inc-1", 1)))
	_, ok, err := b.GetIncident(ctx, "inc-1")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestDefaultTTL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb, prefix := testenv.Redis(t)
	c := cache.New(rdb, prefix, 0)

	require.NoError(t, c.SetIncident(ctx, sample("inc-1", 1)))
	pttl, err := rdb.PTTL(ctx, prefix+"incident:inc-1").Result()
	require.NoError(t, err)
	require.Greater(t, pttl, cache.DefaultIncidentTTL-time.Minute)
	require.LessOrEqual(t, pttl, cache.DefaultIncidentTTL)
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	rdb := cache.NewClient(testenv.RedisAddr(t), "", 0, cache.ClientOptions{})
	t.Cleanup(func() { _ = rdb.Close() })
	require.NoError(t, cache.New(rdb, "", 0).Ping(t.Context()))

	single, ok := rdb.(*redis.Client)
	require.True(t, ok, "one address without Cluster gives a single-node client, got %T", rdb)
	opt := single.Options()
	require.Equal(t, cache.DefaultPoolSize, opt.PoolSize)
	require.Equal(t, cache.DefaultMaxIdleConns, opt.MaxIdleConns)
	require.Equal(t, cache.DefaultConnMaxIdleTime, opt.ConnMaxIdleTime)
	require.Equal(t, cache.DefaultDialTimeout, opt.DialTimeout)
	require.Equal(t, cache.DefaultReadTimeout, opt.ReadTimeout)
	require.Equal(t, cache.DefaultReadTimeout, opt.WriteTimeout)

	tuned := cache.NewClient(testenv.RedisAddr(t), "", 3, cache.ClientOptions{
		PoolSize: 7, MaxIdleConns: 2, MinIdleConns: 1, ConnMaxIdleTime: time.Second,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 4 * time.Second,
	})
	t.Cleanup(func() { _ = tuned.Close() })
	opt = tuned.(*redis.Client).Options()
	require.Equal(t, 3, opt.DB)
	require.Equal(t, 7, opt.PoolSize)
	require.Equal(t, 2, opt.MaxIdleConns)
	require.Equal(t, 1, opt.MinIdleConns)
	require.Equal(t, time.Second, opt.ConnMaxIdleTime)
	require.Equal(t, 2*time.Second, opt.ReadTimeout)
	require.Equal(t, 4*time.Second, opt.WriteTimeout)

	cluster := cache.NewClient("127.0.0.1:7000, 127.0.0.1:7001", "", 0, cache.ClientOptions{ReadFromReplicas: true, RouteByLatency: true})
	t.Cleanup(func() { _ = cluster.Close() })
	cc, ok := cluster.(*redis.ClusterClient)
	require.True(t, ok, "several addresses give a cluster client, got %T", cluster)
	copt := cc.Options()
	require.Equal(t, []string{"127.0.0.1:7000", "127.0.0.1:7001"}, copt.Addrs)
	require.Equal(t, cache.DefaultPoolSize, copt.PoolSize)
	require.True(t, copt.ReadOnly)
	require.True(t, copt.RouteByLatency)
}

// TestCluster runs the cache on a real three-node Redis Cluster through the
// client cache.NewClient builds for redis.addrs: keys spread over the
// nodes, and every operation follows them.
func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	addrs := testenv.RedisCluster(t)
	rdb := cache.NewClient(strings.Join(addrs, ","), "", 0, cache.ClientOptions{Cluster: true})
	t.Cleanup(func() { _ = rdb.Close() })
	_, isCluster := rdb.(*redis.ClusterClient)
	require.True(t, isCluster)
	c := cache.New(rdb, "incident-server:", time.Minute)
	require.NoError(t, c.Ping(ctx))

	const n = 30
	for i := range n {
		id := fmt.Sprintf("inc-%d", i)
		require.NoError(t, c.SetIncident(ctx, sample(id, 2)))
		require.NoError(t, c.SetIncident(ctx, sample(id, 1)), "an older version is ignored, not an error")
		got, ok, err := c.GetIncident(ctx, id)
		require.NoError(t, err)
		require.True(t, ok)
		require.EqualValues(t, 2, got.Version)
	}
	require.NoError(t, c.SetJSON(ctx, "policy:p1", map[string]string{"name": "primary"}, time.Minute))
	var policy map[string]string
	ok, ttl, err := c.GetJSON(ctx, "policy:p1", &policy)
	require.NoError(t, err)
	require.True(t, ok)
	require.Positive(t, ttl)
	require.Equal(t, "primary", policy["name"])
	for range 3 {
		_, err := c.Incr(ctx, "ratelimit:svc")
		require.NoError(t, err)
	}
	count, err := c.Counter(ctx, "ratelimit:svc")
	require.NoError(t, err)
	require.EqualValues(t, 3, count)
	require.NoError(t, c.DeleteIncident(ctx, "inc-0"))
	_, ok, err = c.GetIncident(ctx, "inc-0")
	require.NoError(t, err)
	require.False(t, ok)

	// The keys live on more than one node.
	holding := 0
	for _, addr := range addrs {
		node := redis.NewClient(&redis.Options{Addr: addr})
		size, err := node.DBSize(ctx).Result()
		_ = node.Close()
		require.NoError(t, err)
		if size > 0 {
			holding++
		}
	}
	require.Greater(t, holding, 1, "keys spread over the cluster's nodes")
}
