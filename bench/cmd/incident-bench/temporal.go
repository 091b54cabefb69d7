package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	tclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The benchmark speaks to Temporal through the SDK only, as any client or
// worker of the engine's frontend would: it never links the server.

// temporalFlags name the Temporal frontend the engine uses.
type temporalFlags struct {
	TemporalAddress   string `json:"temporal_address"`
	TemporalNamespace string `json:"temporal_namespace"`
}

func (t *temporalFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.TemporalAddress, "temporal-address", "127.0.0.1:7233", "the engine's Temporal frontend (host:port)")
	fs.StringVar(&t.TemporalNamespace, "temporal-namespace", "default", "the engine's Temporal namespace")
}

// dialTemporal connects to the frontend with the SDK's logging silenced:
// its lines would interleave with the scenario's progress.
func dialTemporal(ctx context.Context, t temporalFlags) (tclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := tclient.DialContext(ctx, tclient.Options{
		HostPort:  t.TemporalAddress,
		Namespace: t.TemporalNamespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	if err != nil {
		return nil, fmt.Errorf("temporal at %s: %w", t.TemporalAddress, err)
	}
	return c, nil
}

// emptyWorkflowName is the no-op workflow of the start ceiling. It runs on
// a task queue of the benchmark's own, served by the benchmark's worker, so
// the engine's worker never sees it.
const emptyWorkflowName = "IncidentBenchEmpty"

// emptyWorkflow does nothing: one workflow task, then completion.
func emptyWorkflow(workflow.Context) error { return nil }

// startEmptyWorker starts a worker for emptyWorkflow on taskQueue and
// returns its stop function.
func startEmptyWorker(c tclient.Client, taskQueue string) (func(), error) {
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(emptyWorkflow, workflow.RegisterOptions{Name: emptyWorkflowName})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker for %s: %w", emptyWorkflowName, err)
	}
	return w.Stop, nil
}
