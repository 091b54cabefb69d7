// Command incident-bench drives a running incident-server over its REST API
// and measures it from the outside, the way an alerting source and a pager
// would see it.
//
// Each scenario is a subcommand with its own flags:
//
//	incident-bench page-latency [flags]       how soon pages go out after an incident opens or a step falls due
//	incident-bench open-throughput [flags]    incidents opened and acknowledged per second
//	incident-bench alert-throughput [flags]   alerts per second through the Alertmanager endpoint
//	incident-bench ceilings [flags]           Postgres single-row INSERTs and empty-workflow starts per second, for comparison
//	incident-bench cost [flags]               memory, idle CPU and storage per open incident
//	incident-bench all [flags]                all of the above, one table and one JSON
//	incident-bench scale [flags]              100,000 open incidents and 10,000 pinging heartbeat monitors, measured at checkpoints
//
// Scenarios print a table of results and write the raw samples, the
// parameters and the machine they ran on as JSON under -out (.data/bench,
// ignored by git), so that runs can be compared later. By default they
// measure the engine answering at -url (`make run GORUSH=local` starts one
// on http://127.0.0.1:8080). all, cost and scale also take -topology, with
// which they start the engine themselves from -engine-bin, as one process
// (dev) or as a Temporal server, a worker and an API (split-sqlite,
// split-postgres), on stores of the run's own (topology.go). Defaults that
// name files (-out, -temporal-db, -engine-bin, -engine-data) are relative
// to the repository root, where `make bench` runs it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// scenario is one subcommand. run gets the arguments after the scenario's
// name and returns an error to report on exit.
type scenario struct {
	name    string
	summary string
	run     func(args []string) error
}

// scenarios lists every subcommand, in the order usage shows them.
var scenarios = []scenario{
	{name: "page-latency", summary: "open incidents at a steady rate and measure open→first page and step due→page", run: runPageLatency},
	{name: scenarioOpen, summary: "incidents opened, then acknowledged, per second at several concurrencies", run: runOpenThroughput},
	{name: scenarioAlert, summary: "alerts per second through the Alertmanager endpoint, one group", run: runAlertThroughput},
	{name: scenarioCeilings, summary: "the limits beside them: Postgres single-row INSERTs and empty Temporal workflow starts per second", run: runCeilings},
	{name: scenarioCost, summary: "memory, idle CPU and storage of the engine at 0, 1,000 and 10,000 open incidents", run: runCost},
	{name: scenarioAll, summary: "every scenario in turn, one combined table and one JSON", run: runAll},
	{name: scenarioScale, summary: "open incidents and pinging heartbeat monitors at scale, measured at checkpoints (not part of all)", run: runScale},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: incident-bench <scenario> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Drives a running incident-server over HTTP and reports latencies.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "scenarios:")
	for _, s := range scenarios {
		fmt.Fprintf(w, "  %-17s %s\n", s.name, s.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "`incident-bench <scenario> -h` lists a scenario's flags.")
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	name := os.Args[1]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(os.Stdout)
		return
	}
	for _, s := range scenarios {
		if s.name != name {
			continue
		}
		err := s.run(os.Args[2:])
		switch {
		case err == nil:
			return
		case errors.Is(err, flag.ErrHelp):
			return
		case errors.Is(err, errUsage):
			os.Exit(2)
		default:
			fmt.Fprintf(os.Stderr, "incident-bench %s: %v\n", name, err)
			os.Exit(1)
		}
	}
	fmt.Fprintf(os.Stderr, "incident-bench: unknown scenario %q\n\n", name)
	usage(os.Stderr)
	os.Exit(2)
}

// errUsage reports bad flags whose message the flag package has already
// printed, so main only sets the exit status.
var errUsage = errors.New("usage")
