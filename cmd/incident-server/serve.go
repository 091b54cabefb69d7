package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/devtemporal"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/worker"
)

// runDev runs the whole engine in one process: an embedded Temporal server
// with its Web UI (state in a SQLite file under the data dir, so incidents
// and their timers survive a restart), the worker and the API.
func runDev(ctx context.Context, args []string, out io.Writer) error {
	cfg, _, err := loadConfig("dev", args, nil)
	if err != nil {
		return err
	}
	p, err := newProcess(cfg)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.openData(ctx); err != nil {
		return err
	}
	if err := p.loadTokens(true); err != nil {
		return err
	}
	adminToken, err := p.tokens.Mint("admin", auth.Admin, bootstrapTTL)
	if err != nil {
		return err
	}
	if _, err := store.MigrateUp(ctx, p.store.Pool()); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	srv, err := devtemporal.Start(ctx, devtemporal.Options{
		DatabaseFile:     filepath.Join(cfg.Dev.DataDir, "temporal.db"),
		Port:             cfg.Dev.TemporalPort,
		UIPort:           cfg.Dev.UIPort,
		Namespace:        cfg.Temporal.Namespace,
		SearchAttributes: worker.SearchAttributes,
		Logger:           p.logs.Component("temporal_server"),
	})
	if err != nil {
		return err
	}
	p.closers = append(p.closers, srv.Stop)
	tc, err := p.dialTemporal(ctx, srv.HostPort())
	if err != nil {
		return err
	}
	if err := worker.EnsureSearchAttributes(ctx, tc, cfg.Temporal.Namespace); err != nil {
		return err
	}
	p.startSchedules(ctx, tc)
	w := worker.New(tc, cfg.Temporal.TaskQueue, p.activities(tc))
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	l, err := p.listen()
	if err != nil {
		return err
	}
	base := scheme(cfg) + "://" + l.Addr().String()
	fmt.Fprintf(out, `incident-server %s is ready
  API              %s/api/v1/incidents
  health           %s/health/ready
  metrics          %s/metrics
  Temporal         %s (namespace %s)
  Temporal Web UI  %s
  Postgres         %s
  Redis            %s
  Push             %s
  Admin token      %s
                   (user "admin", valid %s; send it as "Authorization: Bearer <token>";
                   more: incident-server token create --user NAME --role viewer|responder|admin)
Press Ctrl-C to stop.
`, cfg.Version, base, base, base, srv.HostPort(), cfg.Temporal.Namespace, srv.UIAddress(),
		redactURL(cfg.Database.URL), cfg.Redis.Addr, pushTarget(cfg.Push.GorushURL), adminToken, bootstrapTTL)
	err = p.serve(ctx, l, p.handler(tc))
	fmt.Fprintln(out, "incident-server stopped")
	return err
}

// bootstrapTTL is how long the admin token `dev` prints stays valid.
const bootstrapTTL = 24 * time.Hour

func scheme(cfg config.Config) string {
	if cfg.Server.TLSCertFile != "" {
		return "https"
	}
	return "http"
}

func pushTarget(gorushURL string) string {
	if gorushURL == "" {
		return "log sink (no GORUSH_URL: pages are logged; make run GORUSH=local runs Gorush)"
	}
	return "Gorush at " + gorushURL
}

// runAPI serves the REST API against the configured Temporal cluster.
func runAPI(ctx context.Context, args []string, out io.Writer) error {
	cfg, _, err := loadConfig("api", args, nil)
	if err != nil {
		return err
	}
	p, err := newProcess(cfg)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.openData(ctx); err != nil {
		return err
	}
	if err := p.loadTokens(false); err != nil {
		return err
	}
	tc, err := p.dialTemporal(ctx, cfg.Temporal.Address)
	if err != nil {
		return err
	}
	l, err := p.listen()
	if err != nil {
		return err
	}
	p.log.Info("api listening", "addr", l.Addr().String(), "temporal", cfg.Temporal.Address)
	return p.serve(ctx, l, p.handler(tc))
}

// runWorker runs the Temporal worker against the configured cluster until
// interrupted.
func runWorker(ctx context.Context, args []string, out io.Writer) error {
	cfg, _, err := loadConfig("worker", args, nil)
	if err != nil {
		return err
	}
	p, err := newProcess(cfg)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.openData(ctx); err != nil {
		return err
	}
	tc, err := p.dialTemporal(ctx, cfg.Temporal.Address)
	if err != nil {
		return err
	}
	if err := worker.EnsureSearchAttributes(ctx, tc, cfg.Temporal.Namespace); err != nil {
		return err
	}
	p.startSchedules(ctx, tc)
	// The worker knows the incident facts (opened, responded, breached):
	// it serves them, with its health, on the server address.
	l, err := p.listen()
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", p.metrics.Handler())
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	errc := make(chan error, 1)
	go func() { errc <- p.serve(ctx, l, mux) }()
	p.log.Info("worker polling", "task_queue", cfg.Temporal.TaskQueue, "temporal", cfg.Temporal.Address,
		"metrics", "http://"+l.Addr().String()+"/metrics")
	if err := worker.Run(ctx, tc, cfg.Temporal.TaskQueue, p.activities(tc)); err != nil {
		return err
	}
	return <-errc
}
