// Package cli is the command line of the incident-server binary: the
// subcommands, their flags and exit codes. The long-running commands hand
// over to the composition root (package app); the embedded shapes (`dev`,
// `temporal`) are added by the binary when it is built with them.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/incident-server/incident-server/internal/app"
)

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, args []string, stdout io.Writer) error
}

// Commands are the subcommands every build has.
func Commands() []Command {
	return []Command{
		{"api", "serve the REST API against the configured Temporal cluster", app.RunAPI},
		{"worker", "run the Temporal worker against the configured Temporal cluster", app.RunWorker},
		{"migrate", "migrate up | down [N] | status: manage the Postgres schema", runMigrate},
		{"health", "check a running API's readiness; exit 0 when ready", runHealth},
		{"token", "create [--login] --user U --role R [--ttl D]: mint a user token, or a one-time console login link", runToken},
		{"schedules", "sync: create or update the backup and maintenance Temporal Schedules", runSchedules},
		{"restore", "restore -from FILE [-force]: load a backup dump into an empty database", runRestore},
		{"export", "export config | policies: print them as JSON", runExport},
		{"import", "import [FILE…|-]: upsert exported config and policies", runImport},
		{"secrets", "generate-key [-id ID] | rotate: the keys that seal webhook URLs in Postgres", runSecrets},
		{"version", "print the version", func(_ context.Context, _ []string, out io.Writer) error {
			_, err := fmt.Fprintln(out, app.Version())
			return err
		}},
	}
}

// Run runs the subcommand args names, from cmds, and returns the process's
// exit code: 0 success, 1 failure, 2 bad usage.
func Run(ctx context.Context, cmds []Command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range cmds {
		if c.Name != args[0] {
			continue
		}
		err := c.Run(ctx, args[1:], stdout)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		}
		fmt.Fprintf(stderr, "incident-server %s: %v\n", c.Name, err)
		return 1
	}
	fmt.Fprintf(stderr, "incident-server: unknown command %q\n\n", args[0])
	usage(stderr, cmds)
	return 2
}

func usage(w io.Writer, cmds []Command) {
	fmt.Fprintln(w, "usage: incident-server <command> [flags]\n\ncommands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintln(w, "\nEvery command takes -config FILE (default: $INCIDENT_CONFIG); environment variables override the file.")
}
