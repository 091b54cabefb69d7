package auth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/testenv"
)

func TestTokenBucketAllowsTheBurstThenRefuses(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	l := auth.NewLimiter(rdb, prefix)
	ctx := context.Background()
	// One token a minute: nothing refills while the test runs.
	limit := auth.Limit{Rate: 1.0 / 60, Burst: 3}
	for i := range 3 {
		d, err := l.Allow(ctx, "user:alice", limit)
		require.NoError(t, err)
		require.True(t, d.Allowed, "request %d is within the burst", i+1)
	}
	d, err := l.Allow(ctx, "user:alice", limit)
	require.NoError(t, err)
	require.False(t, d.Allowed, "the fourth request is over the burst")
	require.Greater(t, d.RetryAfter, 50*time.Second)
	require.LessOrEqual(t, d.RetryAfter, 60*time.Second)

	d, err = l.Allow(ctx, "user:bob", limit)
	require.NoError(t, err)
	require.True(t, d.Allowed, "each credential has its own bucket")

	// The bucket lives under the deployment's prefix (behind redis_rate's
	// own "rate:") and expires once it would be full again: three tokens at
	// one a minute.
	ttl, err := rdb.PTTL(ctx, "rate:"+prefix+"ratelimit:user:alice").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, time.Duration(0), "an idle bucket expires")
	require.LessOrEqual(t, ttl, 3*time.Minute+time.Second)
}

func TestTokenBucketKeepsFractionalRates(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	l := auth.NewLimiter(rdb, prefix)
	ctx := context.Background()
	// 2.5 a second: 400 ms between tokens, not 500 (rate 2) or 333 (rate 3).
	limit := auth.Limit{Rate: 2.5, Burst: 1}
	d, err := l.Allow(ctx, "k", limit)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	d, err = l.Allow(ctx, "k", limit)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Greater(t, d.RetryAfter, 300*time.Millisecond)
	require.LessOrEqual(t, d.RetryAfter, 400*time.Millisecond)
}

// TestTokenBucketOnRedisCluster runs the limiter through the cluster client
// the process builds for redis.addrs: each bucket is one key, so the script
// runs on the node that owns it.
func TestTokenBucketOnRedisCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	addrs := testenv.RedisCluster(t)
	rdb := cache.NewClient(strings.Join(addrs, ","), "", 0, cache.ClientOptions{Cluster: true})
	t.Cleanup(func() { _ = rdb.Close() })
	_, isCluster := rdb.(*redis.ClusterClient)
	require.True(t, isCluster)

	l := auth.NewLimiter(rdb, "incident-server:")
	limit := auth.Limit{Rate: 1.0 / 60, Burst: 2}
	// Enough credentials that their buckets land on every node.
	for i := range 20 {
		key := fmt.Sprintf("user:u%d", i)
		for j := range 2 {
			d, err := l.Allow(ctx, key, limit)
			require.NoError(t, err)
			require.True(t, d.Allowed, "%s request %d is within the burst", key, j+1)
		}
		d, err := l.Allow(ctx, key, limit)
		require.NoError(t, err)
		require.False(t, d.Allowed, "%s is over its burst", key)
		require.Greater(t, d.RetryAfter, 50*time.Second)
	}
}

func TestTokenBucketRefills(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	l := auth.NewLimiter(rdb, prefix)
	ctx := context.Background()
	limit := auth.Limit{Rate: 1000, Burst: 1}
	d, err := l.Allow(ctx, "k", limit)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	// At 1000 tokens a second the next token is at most a few ms away:
	// wait for it by asking, not by sleeping a guessed time.
	require.Eventually(t, func() bool {
		d, err := l.Allow(ctx, "k", limit)
		return err == nil && d.Allowed
	}, 5*time.Second, time.Millisecond)
}

func TestLimiterReportsRedisDown(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	l := auth.NewLimiter(dead, "x:")
	_, err := l.Allow(context.Background(), "k", auth.Limit{Rate: 1, Burst: 1})
	require.Error(t, err, "the caller decides what a failed check means")

	d, err := l.Allow(context.Background(), "k", auth.Limit{})
	require.NoError(t, err, "a disabled limit never asks Redis")
	require.True(t, d.Allowed)
}
