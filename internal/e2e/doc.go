// Package e2e holds the end-to-end tests: HTTP → API → an in-process
// Temporal server → worker → real Postgres and Redis. It has no code of its
// own; keeping these tests in one package keeps the Temporal server linked
// into one test binary.
package e2e
