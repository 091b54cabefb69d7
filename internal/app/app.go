// Package app is the composition root: the one place that builds the
// engine's parts from its configuration — logs, metrics, the Postgres store,
// the Redis cache, user tokens, the Temporal client, the activities, the
// worker and the API — and runs them. `incident-server api`, `worker` and
// `dev` start through it, and so do the end-to-end tests, so the tests run
// the wiring production runs.
//
// It never links the Temporal server: the embedded shapes (`dev`, a
// Temporal server of its own) live in package devstack, which the
// production image's binary leaves out.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"golang.org/x/net/netutil"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/engine"
	"github.com/incident-server/incident-server/internal/live"
	"github.com/incident-server/incident-server/internal/logging"
	"github.com/incident-server/incident-server/internal/metrics"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/runbook"
	"github.com/incident-server/incident-server/internal/secret"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/worker"
)

// App is one process's parts, built from its configuration. Open builds
// what every long-running command needs; DialTemporal adds the Temporal
// client. Close releases everything, newest first.
type App struct {
	Config    config.Config
	Logs      *logging.Root
	Log       *slog.Logger
	Metrics   *metrics.Registry
	Store     *store.Store
	Redis     redis.UniversalClient
	Cache     *cache.Cache
	Directory *directory.Directory
	// Tokens verifies (and, for dev, mints) user tokens; nil until
	// LoadTokens.
	Tokens *auth.Tokens
	// Keyring seals and opens the secrets stored in Postgres (webhook
	// URLs); nil until LoadKeyring, which gives it to the store too.
	Keyring *secret.Keyring
	// Outbound is the policy for URLs that users type: the API checks
	// webhook URLs against it when they are saved.
	Outbound *outbound.Client
	// Channels are the page providers and links of notifications.*, shared
	// by the worker's activities and the API's inbound routes.
	Channels Channels
	// Temporal is nil until DialTemporal.
	Temporal client.Client

	hubOnce sync.Once
	hub     *live.Hub
	closers []func()
}

// Options adjust Open. The zero value is what the binary uses.
type Options struct {
	// LogOutput receives the logs. Default os.Stderr.
	LogOutput io.Writer
}

// Open builds the logs and metrics and connects to Postgres and Redis.
// Postgres must answer; Redis may be down, since it is never the source of
// truth.
func Open(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	out := opts.LogOutput
	if out == nil {
		out = os.Stderr
	}
	logs, err := logging.New(out, cfg.Logging, cfg.Service, cfg.Version, cfg.Environment)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Logs: logs, Log: logs.Logger(), Metrics: metrics.New()}
	if a.Outbound, err = outbound.NewClient(outboundOptions(cfg)); err != nil {
		return nil, err
	}
	if a.Channels, err = NewChannels(cfg.Notifications); err != nil {
		return nil, err
	}
	if err := a.openData(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) openData(ctx context.Context) error {
	cfg := a.Config
	st, err := store.Open(ctx, cfg.Database.URL, store.PoolOptions{
		MaxConns:        int32(cfg.Database.MaxOpenConns),
		MaxConnLifetime: cfg.Database.ConnMaxLifetime,
		MaxConnIdleTime: cfg.Database.ConnMaxIdleTime,
		QueryExecMode:   cfg.Database.QueryExecMode,
		ReplicaURL:      cfg.Database.ReplicaURL,
	})
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	a.Store = st
	a.closers = append(a.closers, st.Close)
	a.Metrics.Gauges(st.ActiveCount, st.ResponseOverdueCount)
	a.Metrics.BackupGauge(st.LastBackupSuccess)

	r := cfg.Redis
	addr := r.Addr
	if len(r.Addrs) > 0 {
		addr = strings.Join(r.Addrs, ",")
	}
	rdb := cache.NewClient(addr, r.Password, r.DB, cache.ClientOptions{
		Cluster:         len(r.Addrs) > 0,
		PoolSize:        r.MaxActive,
		MaxIdleConns:    r.MaxIdle,
		ConnMaxIdleTime: r.IdleTimeout,
		DialTimeout:     r.DialTimeout,
		ReadTimeout:     r.ReadTimeout,
		WriteTimeout:    r.WriteTimeout,
	})
	a.closers = append(a.closers, func() { _ = rdb.Close() })
	a.Redis = rdb
	a.Cache = cache.New(rdb, r.KeyPrefix, r.IncidentCacheTTL)
	a.Directory = directory.New(st, a.Cache, r.UserCacheTTL, r.ConfigCacheTTL, a.Logs.Component("cache"))
	pingCtx, cancel := context.WithTimeout(ctx, r.DialTimeout)
	defer cancel()
	if err := a.Cache.Ping(pingCtx); err != nil {
		a.Logs.Component("cache").Warn("redis unreachable; serving from postgres until it is back", "addr", addr, "error", err)
	}
	return nil
}

// LoadTokens readies user-token verification from auth.jwt_secret or
// auth.jwt_secret_file. With neither set, devFallback uses (and on first
// use creates) the secret kept in the dev data dir, as `dev` and `token
// create` on a laptop do; otherwise it is an error.
func (a *App) LoadTokens(devFallback bool) error {
	t, err := Tokens(a.Config, devFallback)
	if err != nil {
		return err
	}
	a.Tokens = t
	return nil
}

// Tokens is LoadTokens for callers without an App (`token create`).
func Tokens(cfg config.Config, devFallback bool) (*auth.Tokens, error) {
	s := cfg.Auth
	var secret []byte
	var err error
	if s.JWTSecret == "" && s.JWTSecretFile == "" && devFallback {
		secret, err = auth.DevSecret(cfg.Dev.DataDir)
	} else {
		secret, err = auth.LoadSecret(s.JWTSecret, s.JWTSecretFile)
	}
	if err != nil {
		return nil, err
	}
	return auth.NewTokens(secret)
}

// LoadKeyring readies the keys that seal webhook URLs in Postgres, from
// secrets.keys. With none set, devFallback uses (and on first use creates)
// the key kept in the dev data dir, as `dev` does on a laptop; otherwise
// it is an error that says how to make a key.
func (a *App) LoadKeyring(devFallback bool) error {
	k, err := Keyring(a.Config, devFallback)
	if err != nil {
		return err
	}
	a.Keyring = k
	a.Store.SetKeyring(k)
	return nil
}

// Keyring is LoadKeyring for callers without an App (`secrets rotate`).
func Keyring(cfg config.Config, devFallback bool) (*secret.Keyring, error) {
	keys := cfg.Secrets.Keys
	if len(keys) == 0 {
		if !devFallback {
			return nil, fmt.Errorf("secrets.keys is not set: outside development (environment %q) the server needs a key "+
				"to seal webhook URLs in the database. Make one with `incident-server secrets generate-key` and set it in "+
				"secrets.keys or INCIDENT_SECRETS_KEYS (Kubernetes: the Secret's SECRETS_KEYS)", cfg.Environment)
		}
		key, err := secret.DevKey(cfg.Dev.DataDir)
		if err != nil {
			return nil, err
		}
		keys = []string{key}
	}
	k, err := secret.NewKeyring(keys)
	if err != nil {
		return nil, fmt.Errorf("secrets.keys: %w", err)
	}
	return k, nil
}

// outboundOptions maps the configuration onto the policy for URLs that
// users type.
func outboundOptions(cfg config.Config) outbound.Options {
	return outbound.Options{AllowPrivate: cfg.OutboundAllowsPrivate(), Allow: cfg.Outbound.Allow}
}

// DialTemporal connects to the Temporal frontend at hostPort (the
// configured address, or the embedded server's) in the configured
// namespace, with the SDK's metrics on the app's registry.
func (a *App) DialTemporal(ctx context.Context, hostPort string) error {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:       hostPort,
		Namespace:      a.Config.Temporal.Namespace,
		Logger:         sdklog.NewStructuredLogger(a.Logs.Component("temporal")),
		MetricsHandler: a.Metrics.TemporalHandler(),
	})
	if err != nil {
		return fmt.Errorf("connect to temporal at %s: %w", hostPort, err)
	}
	a.Temporal = c
	a.closers = append(a.closers, c.Close)
	return nil
}

// Activities wires the worker's side effects. Without a Gorush URL, push
// pages go to the log sink, so a laptop run still shows every page.
// Webhooks and runbook actions go through the outbound policy
// (outbound.allow_private, outbound.allow) and are signed when
// outbound.signing_secret is set; actions' headers may name
// runbooks.secrets.
func (a *App) Activities() (*activities.Activities, error) {
	cfg := a.Config
	o := outboundOptions(cfg)
	hook, err := push.NewWebhookWith(push.WebhookOptions{
		Timeout:       cfg.Push.WebhookTimeout,
		AllowPrivate:  o.AllowPrivate,
		Allow:         o.Allow,
		SigningSecret: []byte(cfg.Outbound.SigningSecret),
	})
	if err != nil {
		return nil, err
	}
	actions, err := outbound.NewClient(outbound.Options{
		Timeout:      runbook.MaxActionTimeout,
		AllowPrivate: o.AllowPrivate,
		Allow:        o.Allow,
		// A redirect would turn a POST into a body-less GET whose 2xx
		// passes for success: the answer is taken as it is.
		MaxRedirects: -1,
	})
	if err != nil {
		return nil, err
	}
	acts := &activities.Activities{
		Store:          a.Store,
		Cache:          a.Cache,
		Directory:      a.Directory,
		Logger:         a.Logs.Component("connectors"),
		Webhook:        hook,
		Email:          a.Channels.Email,
		Twilio:         a.Channels.Twilio,
		Slack:          a.Channels.Slack,
		Links:          a.Channels.Links,
		Metrics:        a.Metrics,
		Temporal:       a.Temporal,
		Live:           live.NewPublisher(a.Redis, cfg.Redis.KeyPrefix, cfg.Console.StreamMaxLen),
		AuditRetention: cfg.Maintenance.AuditRetention,
		Actions: activities.ActionOptions{
			Client:        actions,
			SigningSecret: []byte(cfg.Outbound.SigningSecret),
			Secrets:       cfg.Runbooks.Secrets,
		},
		Backup: activities.BackupOptions{
			DatabaseURL: cfg.BackupURL(),
			Dir:         cfg.Backup.Dir,
			Retention:   cfg.Backup.Retention,
			PGBin:       cfg.Backup.PGBin,
		},
	}
	if cfg.Push.GorushURL != "" {
		acts.Push = push.NewGorush(cfg.Push.GorushURL, cfg.Push.Timeout)
	}
	return acts, nil
}

// NewWorker returns the worker of the configured task queue with every
// workflow and acts registered, sized as configured. The caller starts and
// stops it. The sticky cache's size is process-wide: the first worker of a
// process sets it.
func (a *App) NewWorker(acts *activities.Activities) sdkworker.Worker {
	w := a.Config.Worker
	setCacheSize.Do(func() { sdkworker.SetStickyWorkflowCacheSize(w.StickyCacheSize) })
	return worker.New(a.Temporal, a.Config.Temporal.TaskQueue, worker.Options{
		MaxConcurrentWorkflowTasks:   w.MaxConcurrentWorkflowTasks,
		MaxConcurrentActivities:      w.MaxConcurrentActivities,
		MaxConcurrentLocalActivities: w.MaxConcurrentLocalActivities,
		WorkflowPollers:              w.WorkflowPollers,
		ActivityPollers:              w.ActivityPollers,
	}, acts)
}

// setCacheSize sets the SDK's process-wide sticky cache size once: the SDK
// refuses to change it after a worker has started.
var setCacheSize sync.Once

// PrepareWorker does what a worker does before it polls: it makes sure the
// namespace knows the search attributes, syncs the scheduled operations
// and starts the handoff workflows that are missing. A failed sync is
// logged, not fatal: paging for incidents matters more than housekeeping,
// and the next start (or `schedules sync`, for the scheduled operations)
// tries again.
func (a *App) PrepareWorker(ctx context.Context) error {
	if err := worker.EnsureSearchAttributes(ctx, a.Temporal, a.Config.Temporal.Namespace); err != nil {
		return err
	}
	if err := a.SyncSchedules(ctx); err != nil {
		a.Log.Error("sync schedules; backups and maintenance may not run", "error", err)
	}
	if err := a.SyncHandoffs(ctx); err != nil {
		a.Log.Error("sync handoff workflows; some handoff notices wait for the next change to their schedule", "error", err)
	}
	return nil
}

// SyncHandoffs starts the HandoffWorkflow of every on-call schedule that
// anyone subscribed to handoff notices of and whose workflow is not
// running: after an import, or one terminated in the Web UI. The API starts
// them too (update-with-start) whenever a schedule, an override or a
// subscription changes.
func (a *App) SyncHandoffs(ctx context.Context) error {
	ids, err := a.Store.SubscribedSchedules(ctx)
	if err != nil {
		return err
	}
	e := &engine.Client{Temporal: a.Temporal, TaskQueue: a.Config.Temporal.TaskQueue}
	var errs []error
	for _, id := range ids {
		if err := e.StartHandoffs(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SyncSchedules creates the built-in service the engine opens incidents
// about itself on, then creates or updates the Temporal Schedules.
func (a *App) SyncSchedules(ctx context.Context) error {
	if err := a.Store.EnsureService(ctx, contract.OpsService, "incident-server",
		"The incident engine itself: failed backups, active incidents without a running workflow."); err != nil {
		return err
	}
	return worker.SyncSchedules(ctx, a.Temporal, ScheduleOptions(a.Config))
}

// ScheduleOptions maps the configuration onto the scheduled operations.
func ScheduleOptions(cfg config.Config) worker.ScheduleOptions {
	return worker.ScheduleOptions{
		TaskQueue:       cfg.Temporal.TaskQueue,
		BackupCron:      cfg.Backup.Cron,
		Backup:          contract.BackupInput{Timeout: cfg.Backup.Timeout},
		MaintenanceCron: cfg.Maintenance.Cron,
		Maintenance: contract.MaintenanceInput{
			Retention:      cfg.Maintenance.Retention,
			ReconcileGrace: cfg.Maintenance.ReconcileGrace,
			AuditRetention: cfg.Maintenance.AuditRetention,
		},
		CatchupWindow: cfg.Schedules.CatchupWindow,
	}
}

// Handler is the REST API, wired as configured.
func (a *App) Handler() http.Handler {
	cfg := a.Config
	s := cfg.Auth
	return api.New(api.Options{
		Temporal:            a.Temporal,
		Store:               a.Store,
		Cache:               a.Cache,
		Directory:           a.Directory,
		Metrics:             a.Metrics,
		Logger:              a.Logs.Component("api"),
		TaskQueue:           cfg.Temporal.TaskQueue,
		MaxBodyBytes:        cfg.Server.MaxBodyBytes,
		AlertmanagerMaxBody: cfg.Server.AlertmanagerMaxBodyBytes,
		Tokens:              a.Tokens,
		Limiter:             auth.NewLimiter(a.Redis, cfg.Redis.KeyPrefix),
		RateLimit:           auth.Limit{Rate: s.RateLimit, Burst: s.RateBurst},
		EventsV2Limit:       auth.Limit{Rate: s.EventsV2RateLimit, Burst: s.EventsV2RateBurst},
		MetricsAuth:         !s.MetricsPublic,
		Outbound:            a.Outbound,
		Live:                a.Hub(),
		Console: api.ConsoleOptions{
			PublicURL:     cfg.Console.PublicURL,
			SessionTTL:    cfg.Console.SessionTTL,
			LoginLinkTTL:  cfg.Console.LoginLinkTTL,
			PollInterval:  cfg.Console.PollInterval,
			TemporalUIURL: cfg.Console.TemporalUIURL,
			Namespace:     cfg.Temporal.Namespace,
		},
		Inbound: api.Inbound{
			Links:              a.Channels.Links,
			TwilioAccountSID:   cfg.Notifications.Twilio.AccountSID,
			TwilioAuthToken:    cfg.Notifications.Twilio.AuthToken,
			SlackSigningSecret: cfg.Notifications.Slack.SigningSecret,
			Slack:              a.Channels.Slack,
			Channels:           cfg.Notifications.Enabled(),
		},
	})
}

// Hub is the process's reader of the live-update stream, shared by every
// handler the app builds; it starts reading when the first browser
// subscribes and stops when the app closes or its server shuts down.
func (a *App) Hub() *live.Hub {
	a.hubOnce.Do(func() {
		a.hub = live.NewHub(a.Redis, a.Config.Redis.KeyPrefix, live.HubOptions{Logger: a.Logs.Component("websocket")})
		a.closers = append(a.closers, a.hub.Close)
	})
	return a.hub
}

// MintLoginLink stores a one-time login link for user with role, valid for
// ttl, and returns its URL under the console's base URL.
func MintLoginLink(ctx context.Context, st *store.Store, base, user string, role auth.Role, ttl time.Duration, by string) (string, error) {
	if !role.Valid() {
		return "", fmt.Errorf("role %q: must be one of viewer, responder, admin", role)
	}
	user = strings.TrimSpace(user)
	if user == "" || len(user) > auth.MaxSubjectLen {
		return "", fmt.Errorf("user: must be 1 to %d characters", auth.MaxSubjectLen)
	}
	if ttl <= 0 || ttl > 24*time.Hour {
		return "", fmt.Errorf("ttl: must be positive and at most 24h")
	}
	_, token, err := st.CreateLoginLink(ctx, store.NewLoginLink{Subject: user, Role: string(role), ExpiresAt: time.Now().Add(ttl), CreatedBy: by})
	if err != nil {
		return "", err
	}
	return api.LoginURL(base, token), nil
}

// ConsoleBase is the console's base URL for links printed outside a
// request: console.public_url, else the API's own address.
func ConsoleBase(cfg config.Config) string {
	if cfg.Console.PublicURL != "" {
		return cfg.Console.PublicURL
	}
	scheme := "http"
	if cfg.Server.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + cfg.Server.Addr
}

// Listen binds the server address, capped at the configured connection count.
func (a *App) Listen() (net.Listener, error) {
	l, err := net.Listen("tcp", a.Config.Server.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a.Config.Server.Addr, err)
	}
	return netutil.LimitListener(l, a.Config.Server.MaxConnections), nil
}

// Serve serves h on l until ctx is done, then lets in-flight requests
// finish within the shutdown timeout.
func (a *App) Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	cfg := a.Config.Server
	srv := &http.Server{
		Handler:           h,
		ReadTimeout:       cfg.ReadTimeout,
		ReadHeaderTimeout: min(cfg.ReadTimeout, 10*time.Second),
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Logs.Component("api").Handler(), slog.LevelWarn),
	}
	// Live streams never go idle by themselves: closing the hub ends them,
	// so Shutdown does not wait for browsers to leave.
	srv.RegisterOnShutdown(func() {
		if a.hub != nil {
			a.hub.Close()
		}
	})
	if cfg.TLSCertFile != "" {
		tc, err := api.TLSConfig(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return err
		}
		srv.TLSConfig = tc
	}
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(l, "", "")
			return
		}
		errc <- srv.Serve(l)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}

// Scheme is the API's URL scheme: https when TLS is configured.
func (a *App) Scheme() string {
	if a.Config.Server.TLSCertFile != "" {
		return "https"
	}
	return "http"
}

// OnClose runs f when the app closes, before what was opened earlier.
func (a *App) OnClose(f func()) { a.closers = append(a.closers, f) }

// Close releases what the app opened, newest first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// LoadConfig parses a command's flags (-config and extra's) and loads the
// configuration. It returns the arguments left after the flags.
func LoadConfig(name string, args []string, extra func(*flag.FlagSet)) (config.Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", os.Getenv("INCIDENT_CONFIG"), "YAML configuration `file`")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return config.Config{}, nil, err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return config.Config{}, nil, err
	}
	cfg.Version = Version()
	return cfg, fs.Args(), nil
}

// RedactURL hides a connection string's password.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
