//go:build nodev

package main

import "github.com/incident-server/incident-server/internal/cli"

// embedded is empty: this build leaves out the embedded Temporal server.
func embedded() []cli.Command { return nil }
