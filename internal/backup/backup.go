// Package backup takes, checks, prunes and restores Postgres dumps with
// the PostgreSQL client tools pg_dump and pg_restore.
//
// Dumps are in pg_dump's custom format (-Fc, compressed), written as
// incidents_<UTC time>.dump, and are only given that name once pg_restore
// has read their table of contents back: a file with the name is a
// complete dump.
package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DefaultPGBin is where Debian's postgresql-15 package puts the tools.
const DefaultPGBin = "/usr/lib/postgresql/15/bin"

// Tools locates pg_dump and pg_restore.
type Tools struct {
	PGDump    string
	PGRestore string
}

// FindTools looks for pg_dump and pg_restore in dir when it is set, else
// in DefaultPGBin, else on PATH.
func FindTools(dir string) (Tools, error) {
	find := func(name string) (string, error) {
		if dir != "" {
			p := filepath.Join(dir, name)
			if isExecutable(p) {
				return p, nil
			}
			return "", fmt.Errorf("%s not found in %s (backup.pg_bin)", name, dir)
		}
		if p := filepath.Join(DefaultPGBin, name); isExecutable(p) {
			return p, nil
		}
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("%s not found in %s or on PATH: install the PostgreSQL client or set backup.pg_bin", name, DefaultPGBin)
		}
		return p, nil
	}
	var t Tools
	var err error
	if t.PGDump, err = find("pg_dump"); err != nil {
		return Tools{}, err
	}
	if t.PGRestore, err = find("pg_restore"); err != nil {
		return Tools{}, err
	}
	return t, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// filePrefix and fileSuffix frame every dump's name.
const (
	filePrefix = "incidents_"
	fileSuffix = ".dump"
	// timeLayout sorts by name in time order.
	timeLayout = "20060102T150405.000Z"
)

// FileName is the name of a dump taken at t.
func FileName(t time.Time) string {
	return filePrefix + strings.Replace(t.UTC().Format(timeLayout), ".", "", 1) + fileSuffix
}

// Result describes one dump.
type Result struct {
	File string
	Size int64
}

// Dump writes a dump of the database at databaseURL into dir (created when
// missing) and checks it with pg_restore --list. On any error no file of
// the dump's name is left behind.
func (t Tools) Dump(ctx context.Context, databaseURL, dir string, now time.Time) (Result, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Result{}, fmt.Errorf("create backup directory: %w", err)
	}
	final := filepath.Join(dir, FileName(now))
	partial := final + ".partial"
	defer os.Remove(partial)
	conn, err := libpqURL(databaseURL)
	if err != nil {
		return Result{}, err
	}
	if err := run(ctx, t.PGDump, "--format=custom", "--compress=6", "--no-owner", "--no-acl",
		"--file="+partial, "--dbname="+conn); err != nil {
		return Result{}, fmt.Errorf("pg_dump: %w", err)
	}
	if err := t.Verify(ctx, partial); err != nil {
		return Result{}, err
	}
	if err := os.Rename(partial, final); err != nil {
		return Result{}, fmt.Errorf("name dump: %w", err)
	}
	fi, err := os.Stat(final)
	if err != nil {
		return Result{}, fmt.Errorf("stat dump: %w", err)
	}
	return Result{File: final, Size: fi.Size()}, nil
}

// Verify reads file's table of contents with pg_restore --list and checks
// it lists at least one table's data.
func (t Tools) Verify(ctx context.Context, file string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, t.PGRestore, "--list", file)
	cmd.Stdout = &out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("verify %s: pg_restore --list: %w: %s", filepath.Base(file), err, tail(stderr.String()))
	}
	if !strings.Contains(out.String(), " TABLE DATA ") {
		return fmt.Errorf("verify %s: the dump holds no table data", filepath.Base(file))
	}
	return nil
}

// Prune deletes dumps in dir older than retention by their modification
// time, and unfinished .partial files as old. The newest dump is never
// deleted, however old: a backup that stopped working must not take the
// last good one with it. It returns the deleted files.
func Prune(dir string, retention time.Duration, now time.Time) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("prune backups: %w", err)
	}
	var dumps []string
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(name, filePrefix) &&
			(strings.HasSuffix(name, fileSuffix) || strings.HasSuffix(name, fileSuffix+".partial")) {
			dumps = append(dumps, name)
		}
	}
	slices.Sort(dumps)
	newest := ""
	for i := len(dumps) - 1; i >= 0; i-- {
		if strings.HasSuffix(dumps[i], fileSuffix) {
			newest = dumps[i]
			break
		}
	}
	var deleted []string
	var errs []error
	for _, name := range dumps {
		if name == newest {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			continue // deleted meanwhile
		}
		if now.Sub(fi.ModTime()) <= retention {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, p)
	}
	if len(errs) > 0 {
		return deleted, fmt.Errorf("prune backups: %w", errors.Join(errs...))
	}
	return deleted, nil
}

// Restore loads file into the database at databaseURL in one transaction:
// on an error nothing is restored. clean drops the objects the dump holds
// before creating them again (--clean --if-exists); without it the target
// must not have them.
func (t Tools) Restore(ctx context.Context, databaseURL, file string, clean bool) error {
	if err := t.Verify(ctx, file); err != nil {
		return err
	}
	conn, err := libpqURL(databaseURL)
	if err != nil {
		return err
	}
	args := []string{"--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", "--dbname=" + conn}
	if clean {
		args = append(args, "--clean", "--if-exists")
	}
	args = append(args, file)
	if err := run(ctx, t.PGRestore, args...); err != nil {
		return fmt.Errorf("pg_restore: %w", err)
	}
	return nil
}

// libpqURL turns the engine's database URL into one libpq understands: the
// pgx pool settings (pool_*) go, and search_path becomes a server option.
// Key/value connection strings pass unchanged.
func libpqURL(raw string) (string, error) {
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	if sp := q.Get("search_path"); sp != "" {
		q.Del("search_path")
		q.Set("options", strings.TrimSpace(q.Get("options")+" -c search_path="+sp))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// run runs a tool and returns its stderr's last lines with a failure.
func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, tail(stderr.String()))
	}
	return nil
}

// tail keeps the end of a tool's error output, which names the cause.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1000 {
		s = "…" + s[len(s)-1000:]
	}
	return s
}
