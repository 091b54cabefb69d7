// Package faults holds the fault-injection suite: it runs the engine as
// separate processes (a Temporal server, api and worker processes of
// bin/incident-server, a Postgres cluster and a redis-server of its own, and
// a recording push receiver that speaks Gorush's API) and kills, stops and
// restarts them while incidents escalate, SLA timers run and alerts arrive.
// Each scenario compares the pages the policies owe with the pages the
// receiver got: lost and duplicated pages fail the test, lateness is
// reported.
//
// It has no code of its own: everything is in its tests. `go test` runs the
// short form (a few minutes); FAULTS=long (`make chaos`) runs the long one,
// whose figures RELIABILITY.md records. Each run writes its summary to
// .data/faults/<UTC time>.json at the repository root, and keeps the
// process logs of its failed scenarios in .data/faults/<UTC time>/.
package faults
