// Command incident-server is the one binary of the incident engine.
//
//	incident-server dev       embedded Temporal + Web UI, worker and API in one process
//	incident-server api       the REST API, against a Temporal cluster
//	incident-server worker    the Temporal worker, against a Temporal cluster
//	incident-server temporal  only the embedded Temporal server, on a SQLite file
//	incident-server migrate   apply or revert the Postgres schema
//	incident-server health    probe a running API's readiness (for container health checks)
//	incident-server token     mint a user token (JWT) for the REST API
//	incident-server schedules register the backup and maintenance schedules
//	incident-server restore   load a backup dump into an empty database
//	incident-server export    print the config or the policies as JSON
//	incident-server import    upsert exported config and policies
//	incident-server version   print the build version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run the embedded stack: Temporal server and Web UI, worker and API", runDev},
		{"api", "serve the REST API against the configured Temporal cluster", runAPI},
		{"worker", "run the Temporal worker against the configured Temporal cluster", runWorker},
		{"temporal", "-db FILE [-port N] [-ui-port N]: run only the embedded Temporal server", runTemporal},
		{"migrate", "migrate up | down [N] | status: manage the Postgres schema", runMigrate},
		{"health", "check a running API's readiness; exit 0 when ready", runHealth},
		{"token", "create --user U --role R [--ttl D]: mint a user token", runToken},
		{"schedules", "sync: create or update the backup and maintenance Temporal Schedules", runSchedules},
		{"restore", "restore -from FILE [-force]: load a backup dump into an empty database", runRestore},
		{"export", "export config | policies: print them as JSON", runExport},
		{"import", "import [FILE…|-]: upsert exported config and policies", runImport},
		{"version", "print the version", func(_ context.Context, _ []string, out io.Writer) error {
			_, err := fmt.Fprintln(out, version())
			return err
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		}
		fmt.Fprintf(stderr, "incident-server %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "incident-server: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: incident-server <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes -config FILE (default: $INCIDENT_CONFIG); environment variables override the file.")
}

// version is the module version the binary was built from, or "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
