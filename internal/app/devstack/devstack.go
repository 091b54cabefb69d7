// Package devstack runs the engine's embedded shape: an in-process Temporal
// server with its Web UI beside the worker and the API, all wired by package
// app. It is the one package of the binary that links the Temporal server;
// the production image is built without it (build tag nodev).
package devstack

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/app"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/devtemporal"
	"github.com/incident-server/incident-server/internal/logging"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/worker"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// BootstrapTTL is how long the admin token `dev` prints stays valid.
const BootstrapTTL = 24 * time.Hour

// RunDev runs the whole engine in one process: an embedded Temporal server
// with its Web UI (state in a SQLite file under the data dir, or in the
// Postgres database dev.temporal_database_url names, so incidents and their
// timers survive a restart), the worker and the API.
func RunDev(ctx context.Context, args []string, out io.Writer) error {
	cfg, _, err := app.LoadConfig("dev", args, nil)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.LoadTokens(true); err != nil {
		return err
	}
	if err := a.LoadKeyring(true); err != nil {
		return err
	}
	adminToken, err := a.Tokens.Mint("admin", auth.Admin, BootstrapTTL)
	if err != nil {
		return err
	}
	if _, err := store.MigrateUp(ctx, a.Store.Pool()); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	opts := devtemporal.Options{
		Port:             cfg.Dev.TemporalPort,
		UIPort:           cfg.Dev.UIPort,
		Namespace:        cfg.Temporal.Namespace,
		SearchAttributes: contract.SearchAttributeTypes,
		Logger:           a.Logs.Component("temporal_server"),
	}
	temporalStore := filepath.Join(cfg.Dev.DataDir, "temporal.db")
	if cfg.Dev.TemporalDatabaseURL != "" {
		opts.PostgresURL = cfg.Dev.TemporalDatabaseURL
		temporalStore = app.RedactURL(cfg.Dev.TemporalDatabaseURL)
	} else {
		opts.DatabaseFile = temporalStore
	}
	srv, err := devtemporal.Start(ctx, opts)
	if err != nil {
		return err
	}
	a.OnClose(srv.Stop)
	if err := a.DialTemporal(ctx, srv.HostPort()); err != nil {
		return err
	}
	if err := a.PrepareWorker(ctx); err != nil {
		return err
	}
	acts, err := a.Activities()
	if err != nil {
		return err
	}
	w := a.NewWorker(acts)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	l, err := a.Listen()
	if err != nil {
		return err
	}
	base := a.Scheme() + "://" + l.Addr().String()
	if a.Config.Console.TemporalUIURL == "" {
		a.Config.Console.TemporalUIURL = srv.UIAddress()
	}
	consoleBase := a.Config.Console.PublicURL
	if consoleBase == "" {
		consoleBase = base
	}
	signIn, err := app.MintLoginLink(ctx, a.Store, consoleBase, "admin", auth.Admin, a.Config.Console.LoginLinkTTL, "dev")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `incident-server %s is ready
  Console          %s/console/
  Sign in          %s
                   (one-time link for user "admin", valid %s; more: incident-server token create --login --user NAME --role ROLE)
  API              %s/api/v1/incidents
  health           %s/health/ready
  metrics          %s/metrics
  Temporal         %s (namespace %s, state in %s)
  Temporal Web UI  %s
  Postgres         %s
  Redis            %s
  Push             %s
  Channels         %s
  Admin token      %s
                   (user "admin", valid %s; send it as "Authorization: Bearer <token>";
                   more: incident-server token create --user NAME --role viewer|responder|admin)
Press Ctrl-C to stop.
`, cfg.Version, consoleBase, signIn, a.Config.Console.LoginLinkTTL, base, base, base, srv.HostPort(), cfg.Temporal.Namespace, temporalStore, srv.UIAddress(),
		app.RedactURL(cfg.Database.URL), cfg.Redis.Addr, pushTarget(cfg.Push.GorushURL), channels(cfg.Notifications), adminToken, BootstrapTTL)
	err = a.Serve(ctx, l, a.Handler())
	fmt.Fprintln(out, "incident-server stopped")
	return err
}

func pushTarget(gorushURL string) string {
	if gorushURL == "" {
		return "log sink (no GORUSH_URL: pages are logged; make run GORUSH=local runs Gorush)"
	}
	return "Gorush at " + gorushURL
}

// channels names the channels configured besides push and webhooks.
func channels(n config.Notifications) string {
	var on []string
	if n.Email.SMTPHost != "" {
		on = append(on, "email via "+n.Email.SMTPHost)
	}
	if n.Twilio.AccountSID != "" {
		on = append(on, "sms and voice via Twilio")
	}
	if n.Slack.BotToken != "" {
		on = append(on, "slack")
	}
	if len(on) == 0 {
		return "push and webhooks only (make run MAILPIT=local adds email to Mailpit)"
	}
	s := strings.Join(on, ", ")
	if n.AckLinkSecret != "" {
		s += "; acknowledge links to " + n.PublicURL
	}
	return s
}

// RunTemporal runs only the embedded Temporal server, as its own process,
// until ctx is done: what `dev` runs in-process, for a topology of separate
// processes on one machine (api and worker pointed at it with
// TEMPORAL_ADDRESS), as the fault-injection suite and the benchmark run it.
// State lives in the SQLite file -db, or in the Postgres database -postgres
// names (with visibility in <name>_visibility beside it, both set up by
// Temporal's own schema tool), so the process can be stopped and started
// again on the same store and every workflow resumes with its timers. The
// namespace has the workflows' search attributes, whether the store is new
// or not.
func RunTemporal(ctx context.Context, args []string, out io.Writer) error {
	var db, pg string
	var port, uiPort, shards int
	cfg, rest, err := app.LoadConfig("temporal", args, func(fs *flag.FlagSet) {
		fs.StringVar(&db, "db", "", "SQLite `file` holding the server's state; created when missing")
		fs.StringVar(&pg, "postgres", "", "Postgres `URL` of a database of Temporal's own holding the server's state "+
			"(visibility in <name>_visibility); created and set up when missing")
		fs.IntVar(&port, "port", 0, "frontend gRPC `port` on 127.0.0.1 (default dev.temporal_port)")
		fs.IntVar(&uiPort, "ui-port", 0, "Temporal Web UI `port` on 127.0.0.1; 0 serves no UI")
		fs.IntVar(&shards, "history-shards", 1, "history shards: the `number` the store records when it is created (later starts keep the recorded one)")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	store := db
	switch {
	case db == "" && pg == "":
		return errors.New("-db or -postgres is required: the SQLite file or Postgres database that keeps workflows across restarts")
	case db != "" && pg != "":
		return errors.New("-db and -postgres are mutually exclusive")
	case pg != "":
		store = app.RedactURL(pg)
	}
	if shards < 1 {
		return errors.New("-history-shards must be at least 1")
	}
	if port == 0 {
		port = cfg.Dev.TemporalPort
	}
	logs, err := logging.New(os.Stderr, cfg.Logging, cfg.Service, cfg.Version, cfg.Environment)
	if err != nil {
		return err
	}
	log := logs.Logger()
	srv, err := devtemporal.Start(ctx, devtemporal.Options{
		DatabaseFile:     db,
		PostgresURL:      pg,
		HistoryShards:    shards,
		Port:             port,
		UIPort:           uiPort,
		Namespace:        cfg.Temporal.Namespace,
		SearchAttributes: contract.SearchAttributeTypes,
		Logger:           logs.Component("temporal_server"),
	})
	if err != nil {
		return err
	}
	defer srv.Stop()
	// A store created by an older build may lack attributes added since:
	// the namespace registers them only when it is created.
	tc, err := client.DialContext(ctx, client.Options{HostPort: srv.HostPort(), Namespace: cfg.Temporal.Namespace,
		Logger: sdklog.NewStructuredLogger(logs.Component("temporal"))})
	if err != nil {
		return fmt.Errorf("connect to temporal at %s: %w", srv.HostPort(), err)
	}
	defer tc.Close()
	if err := worker.EnsureSearchAttributes(ctx, tc, cfg.Temporal.Namespace); err != nil {
		return err
	}
	log.Info("temporal server ready", "address", srv.HostPort(), "namespace", cfg.Temporal.Namespace,
		"store", store, "history_shards", shards, "web_ui", srv.UIAddress())
	fmt.Fprintf(out, "temporal server ready on %s (namespace %s)\n", srv.HostPort(), cfg.Temporal.Namespace)
	<-ctx.Done()
	log.Info("temporal server stopping")
	return nil
}
