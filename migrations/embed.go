// Package migrations holds the database schema as numbered plain-SQL files,
// embedded in the binary. Each version has NNNN_name.up.sql and a matching
// NNNN_name.down.sql; internal/store applies them.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
