package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/apicheck"
	"github.com/incident-server/incident-server/internal/app"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/devtemporal"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/metrics"
	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// stack is the whole engine started through the composition root (package
// app) exactly as `incident-server dev` starts it, with its own Postgres
// schema, Redis prefix and in-memory Temporal server.
type stack struct {
	t        *testing.T
	app      *app.App
	url      string
	store    *store.Store
	rdb      *redis.Client
	cache    *cache.Cache
	prefix   string
	temporal client.Client
	gorush   *push.Gorush
	dir      *directory.Directory
	metrics  *metrics.Registry
	// temporalAddr is the in-memory Temporal server's frontend, for a
	// second API process of the same deployment.
	temporalAddr string
}

const taskQueue = "incidents-e2e"

// newStack starts a stack. configure, if given, runs on the worker before it
// starts, to replace an activity.
func newStack(t *testing.T, configure ...func(sdkworker.Worker, *activities.Activities)) *stack {
	t.Helper()
	return newStackWith(t, nil, configure...)
}

// stackConfig is the configuration of a test stack: production defaults,
// pointed at this test's schema, Redis prefix and the test Gorush, with the
// tests' JWT secret and secrets key, and no rate limits (tests send bursts
// on purpose). The environment is development, so webhooks may reach the
// tests' loopback receivers.
func stackConfig(t *testing.T, prefix string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Database.URL = testenv.PostgresURL(t)
	cfg.Database.MaxOpenConns = 8
	cfg.Redis.Addr = testenv.RedisAddr(t)
	cfg.Redis.KeyPrefix = prefix
	cfg.Push.GorushURL = testenv.GorushURL(t)
	cfg.Push.Timeout = 5 * time.Second
	cfg.Temporal.TaskQueue = taskQueue
	cfg.Auth.JWTSecret = testenv.JWTSecret
	cfg.Secrets.Keys = []string{testenv.SecretsKey}
	cfg.Auth.RateLimit, cfg.Auth.EventsV2RateLimit = 0, 0
	cfg.Server.Addr = "127.0.0.1:0"
	return cfg
}

// newStackWith starts a stack whose configuration edit adjusts first.
func newStackWith(t *testing.T, edit func(*config.Config), configure ...func(sdkworker.Worker, *activities.Activities)) *stack {
	t.Helper()
	srv, err := devtemporal.Start(context.Background(), devtemporal.Options{SearchAttributes: contract.SearchAttributeTypes})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return newStackOn(t, srv.HostPort(), srv.Namespace(), edit, configure...)
}

// newStackOn starts a stack whose worker and API use the Temporal server at
// hostPort, which the caller runs (and may restart on the same port).
func newStackOn(t *testing.T, hostPort, namespace string, edit func(*config.Config), configure ...func(sdkworker.Worker, *activities.Activities)) *stack {
	t.Helper()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	cfg := stackConfig(t, prefix)
	if edit != nil {
		edit(&cfg)
	}
	cfg.Temporal.Namespace = namespace

	a, err := app.Open(ctx, cfg, app.Options{LogOutput: logOutput()})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.LoadTokens(false))
	require.NoError(t, a.LoadKeyring(false))
	require.NoError(t, a.DialTemporal(ctx, hostPort))
	acts, err := a.Activities()
	require.NoError(t, err)
	w := a.NewWorker(acts)
	for _, c := range configure {
		c(w, acts)
	}
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	s := &stack{t: t, app: a, store: a.Store, rdb: rdb, cache: a.Cache, prefix: prefix, temporal: a.Temporal,
		gorush: acts.Push, dir: a.Directory, metrics: a.Metrics, temporalAddr: hostPort}
	ts := httptest.NewServer(checked(t, a.Handler()))
	t.Cleanup(ts.Close)
	s.url = ts.URL
	return s
}

// checked serves h through the OpenAPI document's checker: every request a
// test sends to the API, and every answer, must be as api/openapi.yaml
// describes it, or the test fails. A request sent malformed on purpose
// carries the header apicheck.SkipRequest (see unchecked): its answer is
// still checked.
//
// The checks run after each answer is sent; the cleanup registered here
// waits for them. Register it before the server's own cleanup (call
// checked first), so that it runs after the server has stopped.
func checked(t *testing.T, h http.Handler) http.Handler {
	t.Helper()
	c, err := apicheck.Load()
	require.NoError(t, err)
	h, wait := c.Handler(h, func(err error) { t.Errorf("api/openapi.yaml: %v", err) })
	t.Cleanup(wait)
	return h
}

// unchecked is the header pair that marks a request malformed on purpose,
// for do: apicheck checks only its answer.
var unchecked = []string{apicheck.SkipRequest, "1"}

// doRaw is do for a request sent malformed on purpose (to see it refused):
// its answer is still held to the document, the request is not.
func doRaw(t *testing.T, method, url string, body any, header ...string) response {
	t.Helper()
	return do(t, method, url, body, append(header, unchecked...)...)
}

// serve starts an API on a loopback port and returns its base URL. It
// verifies user tokens minted by testenv.Token unless opts says otherwise.
func (s *stack) serve(opts api.Options) string {
	if opts.Tokens == nil {
		opts.Tokens = testenv.Tokens(s.t)
	}
	ts := httptest.NewServer(checked(s.t, api.New(opts)))
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

// logOutput is where a stack's logs go: nowhere, unless E2E_LOGS is set.
func logOutput() io.Writer {
	if os.Getenv("E2E_LOGS") != "" {
		return os.Stderr
	}
	return io.Discard
}
