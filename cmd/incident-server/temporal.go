package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/incident-server/incident-server/internal/devtemporal"
	"github.com/incident-server/incident-server/worker"
)

// runTemporal runs only the embedded Temporal server, as its own process,
// until interrupted: what `dev` runs in-process, for a topology of separate
// processes (api and worker pointed at it with TEMPORAL_ADDRESS) on one
// machine. State lives in the SQLite file given by -db, so the process can be
// stopped and started again on the same file and every workflow resumes with
// its timers. The namespace gets the workflows' search attributes, as with
// `dev`, whether the file is new or not.
func runTemporal(ctx context.Context, args []string, out io.Writer) error {
	var db string
	var port, uiPort int
	cfg, rest, err := loadConfig("temporal", args, func(fs *flag.FlagSet) {
		fs.StringVar(&db, "db", "", "SQLite `file` holding the server's state; created when missing (required)")
		fs.IntVar(&port, "port", 0, "frontend gRPC `port` on 127.0.0.1 (default dev.temporal_port)")
		fs.IntVar(&uiPort, "ui-port", 0, "Temporal Web UI `port` on 127.0.0.1; 0 serves no UI")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	if db == "" {
		return errors.New("-db is required: the SQLite file that keeps workflows across restarts")
	}
	if port == 0 {
		port = cfg.Dev.TemporalPort
	}
	p, err := newProcess(cfg)
	if err != nil {
		return err
	}
	defer p.close()
	srv, err := devtemporal.Start(ctx, devtemporal.Options{
		DatabaseFile:     db,
		Port:             port,
		UIPort:           uiPort,
		Namespace:        cfg.Temporal.Namespace,
		SearchAttributes: worker.SearchAttributes,
		Logger:           p.logs.Component("temporal_server"),
	})
	if err != nil {
		return err
	}
	p.closers = append(p.closers, srv.Stop)
	// A file created by an older build may lack attributes added since;
	// the namespace's registration only happens when it is created.
	tc, err := p.dialTemporal(ctx, srv.HostPort())
	if err != nil {
		return err
	}
	if err := worker.EnsureSearchAttributes(ctx, tc, cfg.Temporal.Namespace); err != nil {
		return err
	}
	p.log.Info("temporal server ready", "address", srv.HostPort(), "namespace", cfg.Temporal.Namespace,
		"database", db, "web_ui", srv.UIAddress())
	fmt.Fprintf(out, "temporal server ready on %s (namespace %s)\n", srv.HostPort(), cfg.Temporal.Namespace)
	<-ctx.Done()
	p.log.Info("temporal server stopping")
	return nil
}
