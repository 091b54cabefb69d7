package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster starts a three-node Redis Cluster (redis-server from the
// Debian package `make test` installs, no replicas, no persistence) on
// 127.0.0.1 for this test and returns its nodes' host:port addresses once
// every node reports the cluster ok. The nodes stop when the test ends.
func RedisCluster(t testing.TB) []string {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed: run the tests with `make test`, which installs it")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is not installed: run the tests with `make test`, which installs it")
	}

	var addrs []string
	for i := range 3 {
		dir := filepath.Join(t.TempDir(), strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		port, bus := freePort(t), freePort(t)
		cmd := exec.Command(server,
			"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "5000",
			"--dir", dir, "--save", "", "--appendonly", "no", "--protected-mode", "yes",
		)
		exited, logs := startChild(t, "redis-server", cmd)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		awaitRedis(t, addr, exited, logs, func(ctx context.Context, c *redis.Client) error {
			return c.Ping(ctx).Err()
		})
		addrs = append(addrs, addr)
	}

	create := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range addrs {
		awaitRedis(t, addr, nil, nil, func(ctx context.Context, c *redis.Client) error {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("cluster not ok yet")
			}
			return nil
		})
	}
	return addrs
}

// awaitRedis polls addr until ready succeeds, failing the test after 30s
// or when exited closes.
func awaitRedis(t testing.TB, addr string, exited <-chan struct{}, logs *syncBuffer, ready func(context.Context, *redis.Client) error) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		attempt, stop := context.WithTimeout(ctx, 2*time.Second)
		err := ready(attempt, c)
		stop()
		if err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("redis-server on %s exited: %s", addr, logs.String())
		case <-ctx.Done():
			t.Fatalf("redis on %s not ready: %v", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
