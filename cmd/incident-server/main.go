// Command incident-server is the one binary of the incident engine.
//
//	incident-server dev       embedded Temporal + Web UI, worker and API in one process
//	incident-server api       the REST API, against a Temporal cluster
//	incident-server worker    the Temporal worker, against a Temporal cluster
//	incident-server migrate   apply or revert the Postgres schema
//	incident-server health    probe a running API's readiness (for container health checks)
//	incident-server token     mint a user token (JWT) for the REST API
//	incident-server schedules register the backup and maintenance schedules
//	incident-server restore   load a backup dump into an empty database
//	incident-server export    print the config or the policies as JSON
//	incident-server import    upsert exported config and policies
//	incident-server secrets   generate-key | rotate: the keys that seal webhook URLs
//	incident-server version   print the build version
//
// Built with -tags nodev (the production image) it leaves out `dev` and
// `temporal`, and with them the embedded Temporal server and Web UI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/incident-server/incident-server/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.Run(ctx, append(embedded(), cli.Commands()...), os.Args[1:], os.Stdout, os.Stderr))
}
