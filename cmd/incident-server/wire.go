package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/net/netutil"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/logging"
	"github.com/incident-server/incident-server/internal/metrics"
	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/store"
)

// process is what every long-running command shares: configuration, the
// root logger and the connections it opened.
type process struct {
	cfg     config.Config
	logs    *logging.Root
	log     *slog.Logger
	store   *store.Store
	cache   *cache.Cache
	dir     *directory.Directory
	metrics *metrics.Registry
	rdb     redis.UniversalClient
	tokens  *auth.Tokens
	closers []func()
}

// loadConfig parses the command's flags (-config and extra's) and loads the
// configuration. It returns the arguments left after the flags.
func loadConfig(name string, args []string, extra func(*flag.FlagSet)) (config.Config, []string, error) {
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
	cfg.Version = version()
	return cfg, fs.Args(), nil
}

func newProcess(cfg config.Config) (*process, error) {
	logs, err := logging.New(os.Stderr, cfg.Logging, cfg.Service, cfg.Version, cfg.Environment)
	if err != nil {
		return nil, err
	}
	return &process{cfg: cfg, logs: logs, log: logs.Logger(), metrics: metrics.New()}, nil
}

// openData connects to Postgres and Redis. Postgres must answer; Redis may
// be down, since it is never the source of truth.
func (p *process) openData(ctx context.Context) error {
	st, err := store.Open(ctx, p.cfg.Database.URL, store.PoolOptions{
		MaxConns:        int32(p.cfg.Database.MaxOpenConns),
		MaxConnLifetime: p.cfg.Database.ConnMaxLifetime,
		MaxConnIdleTime: p.cfg.Database.ConnMaxIdleTime,
		QueryExecMode:   p.cfg.Database.QueryExecMode,
		ReplicaURL:      p.cfg.Database.ReplicaURL,
	})
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	p.store = st
	p.closers = append(p.closers, st.Close)
	p.metrics.Gauges(st.ActiveCount, st.ResponseOverdueCount)
	p.metrics.BackupGauge(st.LastBackupSuccess)

	r := p.cfg.Redis
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
	p.closers = append(p.closers, func() { _ = rdb.Close() })
	p.rdb = rdb
	p.cache = cache.New(rdb, r.KeyPrefix, r.IncidentCacheTTL)
	p.dir = directory.New(p.store, p.cache, r.UserCacheTTL, r.ConfigCacheTTL, p.logs.Component("cache"))
	pingCtx, cancel := context.WithTimeout(ctx, r.DialTimeout)
	defer cancel()
	if err := p.cache.Ping(pingCtx); err != nil {
		p.logs.Component("cache").Warn("redis unreachable; serving from postgres until it is back", "addr", addr, "error", err)
	}
	return nil
}

func (p *process) dialTemporal(ctx context.Context, hostPort string) (client.Client, error) {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:       hostPort,
		Namespace:      p.cfg.Temporal.Namespace,
		Logger:         sdklog.NewStructuredLogger(p.logs.Component("temporal")),
		MetricsHandler: p.metrics.TemporalHandler(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %s: %w", hostPort, err)
	}
	p.closers = append(p.closers, c.Close)
	return c, nil
}

// activities wires the worker's side effects. Without a Gorush URL, push
// pages go to the log sink, so a laptop run still shows every page.
func (p *process) activities(tc client.Client) *activities.Activities {
	acts := &activities.Activities{
		Store:     p.store,
		Cache:     p.cache,
		Directory: p.dir,
		Logger:    p.logs.Component("connectors"),
		Webhook:   push.NewWebhook(p.cfg.Push.WebhookTimeout),
		Metrics:   p.metrics,
		Temporal:  tc,
		Backup: activities.BackupOptions{
			DatabaseURL: p.cfg.BackupURL(),
			Dir:         p.cfg.Backup.Dir,
			Retention:   p.cfg.Backup.Retention,
			PGBin:       p.cfg.Backup.PGBin,
		},
	}
	if p.cfg.Push.GorushURL != "" {
		acts.Push = push.NewGorush(p.cfg.Push.GorushURL, p.cfg.Push.Timeout)
	}
	return acts
}

func (p *process) handler(tc client.Client) http.Handler {
	a := p.cfg.Auth
	return api.New(api.Options{
		Temporal:            tc,
		Store:               p.store,
		Cache:               p.cache,
		Directory:           p.dir,
		Metrics:             p.metrics,
		Logger:              p.logs.Component("api"),
		TaskQueue:           p.cfg.Temporal.TaskQueue,
		MaxBodyBytes:        p.cfg.Server.MaxBodyBytes,
		AlertmanagerMaxBody: p.cfg.Server.AlertmanagerMaxBodyBytes,
		Tokens:              p.tokens,
		Limiter:             auth.NewLimiter(p.rdb, p.cfg.Redis.KeyPrefix),
		RateLimit:           auth.Limit{Rate: a.RateLimit, Burst: a.RateBurst},
		EventsV2Limit:       auth.Limit{Rate: a.EventsV2RateLimit, Burst: a.EventsV2RateBurst},
		MetricsAuth:         !a.MetricsPublic,
	})
}

// loadTokens readies user-token verification from auth.jwt_secret or
// auth.jwt_secret_file. With neither set, devFallback uses (and on first
// use creates) the secret kept in the dev data dir, as `dev` and
// `token create` on a laptop do; otherwise it is an error.
func (p *process) loadTokens(devFallback bool) error {
	t, err := tokensFor(p.cfg, devFallback)
	if err != nil {
		return err
	}
	p.tokens = t
	return nil
}

func tokensFor(cfg config.Config, devFallback bool) (*auth.Tokens, error) {
	a := cfg.Auth
	var secret []byte
	var err error
	if a.JWTSecret == "" && a.JWTSecretFile == "" && devFallback {
		secret, err = auth.DevSecret(cfg.Dev.DataDir)
	} else {
		secret, err = auth.LoadSecret(a.JWTSecret, a.JWTSecretFile)
	}
	if err != nil {
		return nil, err
	}
	return auth.NewTokens(secret)
}

// listen binds the API's address, capped at the configured connection count.
func (p *process) listen() (net.Listener, error) {
	l, err := net.Listen("tcp", p.cfg.Server.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", p.cfg.Server.Addr, err)
	}
	return netutil.LimitListener(l, p.cfg.Server.MaxConnections), nil
}

// serve serves h on l until ctx is done, then lets in-flight requests finish.
func (p *process) serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadTimeout:       p.cfg.Server.ReadTimeout,
		ReadHeaderTimeout: min(p.cfg.Server.ReadTimeout, 10*time.Second),
		WriteTimeout:      p.cfg.Server.WriteTimeout,
		IdleTimeout:       p.cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(p.logs.Component("api").Handler(), slog.LevelWarn),
	}
	if p.cfg.Server.TLSCertFile != "" {
		tc, err := api.TLSConfig(p.cfg.Server.TLSCertFile, p.cfg.Server.TLSKeyFile)
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
	shutdownCtx, cancel := context.WithTimeout(context.Background(), p.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}

// close releases what the process opened, newest first.
func (p *process) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}
