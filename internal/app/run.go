package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
)

// RunAPI serves the REST API against the configured Temporal cluster
// until ctx is done.
func RunAPI(ctx context.Context, args []string, out io.Writer) error {
	cfg, _, err := LoadConfig("api", args, nil)
	if err != nil {
		return err
	}
	a, err := Open(ctx, cfg, Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.LoadTokens(false); err != nil {
		return err
	}
	if err := a.LoadKeyring(cfg.Development()); err != nil {
		return err
	}
	if err := a.DialTemporal(ctx, cfg.Temporal.Address); err != nil {
		return err
	}
	l, err := a.Listen()
	if err != nil {
		return err
	}
	a.Log.Info("api listening", "addr", l.Addr().String(), "temporal", cfg.Temporal.Address)
	return a.Serve(ctx, l, a.Handler())
}

// RunWorker runs the Temporal worker against the configured cluster until
// ctx is done, serving its metrics and health on the server address: the
// worker is where the incident facts (opened, responded, breached) are
// counted.
func RunWorker(ctx context.Context, args []string, out io.Writer) error {
	cfg, _, err := LoadConfig("worker", args, nil)
	if err != nil {
		return err
	}
	a, err := Open(ctx, cfg, Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.LoadKeyring(cfg.Development()); err != nil {
		return err
	}
	if err := a.DialTemporal(ctx, cfg.Temporal.Address); err != nil {
		return err
	}
	if err := a.PrepareWorker(ctx); err != nil {
		return err
	}
	acts, err := a.Activities()
	if err != nil {
		return err
	}
	l, err := a.Listen()
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	errc := make(chan error, 1)
	go func() { errc <- a.Serve(ctx, l, mux) }()
	w := a.NewWorker(acts)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	a.Log.Info("worker polling", "task_queue", cfg.Temporal.TaskQueue, "temporal", cfg.Temporal.Address,
		"metrics", "http://"+l.Addr().String()+"/metrics")
	<-ctx.Done()
	// Let running activities finish before the connections close.
	w.Stop()
	return <-errc
}

// Version is the module version the binary was built from, or "dev".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
