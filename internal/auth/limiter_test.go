package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
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

	ttl, err := rdb.PTTL(ctx, prefix+"ratelimit:user:alice").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, time.Duration(0), "an idle bucket expires")
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
