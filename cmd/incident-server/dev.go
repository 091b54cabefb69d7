//go:build !nodev

package main

import (
	"github.com/incident-server/incident-server/internal/app/devstack"
	"github.com/incident-server/incident-server/internal/cli"
)

// embedded are the commands of the embedded shape.
func embedded() []cli.Command {
	return []cli.Command{
		{Name: "dev", Summary: "run the embedded stack: Temporal server and Web UI, worker and API", Run: devstack.RunDev},
		{Name: "temporal", Summary: "-db FILE | -postgres URL [-port N] [-ui-port N] [-history-shards N]: run only the embedded Temporal server", Run: devstack.RunTemporal},
	}
}
