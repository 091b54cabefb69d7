package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/devtemporal"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/metrics"
	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
	"github.com/incident-server/incident-server/worker"
)

// stack is the whole engine wired as `incident-server dev` wires it, with
// its own Postgres schema, Redis prefix and in-memory Temporal server.
type stack struct {
	t        *testing.T
	url      string
	store    *store.Store
	rdb      *redis.Client
	cache    *cache.Cache
	prefix   string
	temporal client.Client
	gorush   *push.Gorush
	dir      *directory.Directory
	metrics  *metrics.Registry
}

const taskQueue = "incidents-e2e"

// newStack starts a stack. configure, if given, runs on the worker before it
// starts, to replace an activity.
func newStack(t *testing.T, configure ...func(sdkworker.Worker, *activities.Activities)) *stack {
	t.Helper()
	return newStackOn(t, store.New(testenv.Postgres(t)), configure...)
}

// newStackOn starts a stack on st, a store on a migrated database.
func newStackOn(t *testing.T, st *store.Store, configure ...func(sdkworker.Worker, *activities.Activities)) *stack {
	t.Helper()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	s := &stack{t: t, store: st, rdb: rdb, prefix: prefix}
	s.cache = cache.New(rdb, prefix, 5*time.Minute)

	srv, err := devtemporal.Start(ctx, devtemporal.Options{SearchAttributes: worker.SearchAttributes})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	tc, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.HostPort(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	s.temporal = tc

	s.gorush = push.NewGorush(testenv.GorushURL(t), 5*time.Second)
	s.metrics = metrics.New()
	s.metrics.Gauges(s.store.ActiveCount, s.store.ResponseOverdueCount)
	s.dir = directory.New(s.store, s.cache, 0, 0, nil)
	acts := &activities.Activities{
		Store: s.store, Cache: s.cache, Directory: s.dir, Push: s.gorush, Webhook: push.NewWebhook(5 * time.Second), Metrics: s.metrics,
	}
	w := worker.New(tc, taskQueue, acts)
	for _, c := range configure {
		c(w, acts)
	}
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	s.url = s.serve(api.Options{Temporal: tc, Store: s.store, Cache: s.cache, Directory: s.dir, TaskQueue: taskQueue, Metrics: s.metrics})
	return s
}

// serve starts an API on a loopback port and returns its base URL. It
// verifies user tokens minted by testenv.Token unless opts says otherwise.
func (s *stack) serve(opts api.Options) string {
	if opts.Tokens == nil {
		opts.Tokens = testenv.Tokens(s.t)
	}
	ts := httptest.NewServer(api.New(opts))
	s.t.Cleanup(ts.Close)
	return ts.URL
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// apiError decodes the one error shape and returns its code.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	r.json(t, &body)
	require.NotEmpty(t, body.Error.Message, "error has a message: %s", r.body)
	return body.Error.Code
}

// do sends one request and reads the whole answer. header is name, value
// pairs. Requests carry an admin user token unless header sets
// Authorization itself (to "" for none).
func do(t *testing.T, method, url string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+testenv.Token(t, auth.Admin))
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}
