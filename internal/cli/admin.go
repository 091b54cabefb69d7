package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/incident-server/incident-server/internal/app"
	"github.com/incident-server/incident-server/internal/backup"
	"github.com/incident-server/incident-server/internal/store"
)

// stdin is what `import -` reads; tests replace it.
var stdin io.Reader = os.Stdin

// runSchedules manages the Temporal Schedules of the scheduled operations.
func runSchedules(ctx context.Context, args []string, out io.Writer) error {
	cfg, rest, err := app.LoadConfig("schedules", args, nil)
	if err != nil {
		return err
	}
	if len(rest) != 1 || rest[0] != "sync" {
		return errors.New("say sync")
	}
	cfg.Database.MaxOpenConns = 2
	a, err := app.Open(ctx, cfg, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.DialTemporal(ctx, cfg.Temporal.Address); err != nil {
		return err
	}
	if err := a.SyncSchedules(ctx); err != nil {
		return err
	}
	for _, s := range app.ScheduleOptions(cfg).Schedules() {
		fmt.Fprintf(out, "schedule %s: %s at %q UTC, overlap skip, catch-up window %s\n",
			s.ID, s.Workflow, s.Cron, cfg.Schedules.CatchupWindow)
	}
	return nil
}

// runRestore loads a dump taken by the backup schedule into the configured
// database (backup.database_url, else database.url). The database must be empty (no tables in any schema) unless
// -force is given: then the objects the dump holds are dropped and created
// again, and anything else in the database is left as it is.
func runRestore(ctx context.Context, args []string, out io.Writer) error {
	var from string
	var force bool
	cfg, rest, err := app.LoadConfig("restore", args, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "", "dump `file` to restore (incidents_<time>.dump)")
		fs.BoolVar(&force, "force", false, "restore into a database that has tables, replacing the dump's objects")
	})
	if err != nil {
		return err
	}
	if from == "" || len(rest) > 0 {
		return errors.New("say -from FILE")
	}
	if _, err := os.Stat(from); err != nil {
		return err
	}
	tools, err := backup.FindTools(cfg.Backup.PGBin)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.BackupURL(), store.PoolOptions{MaxConns: 1})
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	n, err := st.CountUserTables(ctx)
	st.Close()
	if err != nil {
		return err
	}
	if n > 0 && !force {
		return fmt.Errorf("database %s is not empty (%d tables): restore into an empty database, or pass -force to replace the objects the dump holds",
			app.RedactURL(cfg.BackupURL()), n)
	}
	if err := tools.Restore(ctx, cfg.BackupURL(), from, force); err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %s into %s\n", from, app.RedactURL(cfg.BackupURL()))
	return nil
}

// runExport prints the configuration or the policies as JSON.
func runExport(ctx context.Context, args []string, out io.Writer) error {
	var output string
	cfg, rest, err := app.LoadConfig("export", args, func(fs *flag.FlagSet) {
		fs.StringVar(&output, "output", "", "write to `file` (replaced whole, only once the export succeeded) instead of standard output")
	})
	if err != nil {
		return err
	}
	kinds := store.ExportKinds()
	if len(rest) != 1 || !slices.Contains(kinds, rest[0]) {
		return fmt.Errorf("say what to export: %s", strings.Join(kinds, " or "))
	}
	st, err := store.Open(ctx, cfg.Database.URL, store.PoolOptions{MaxConns: 1})
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer st.Close()
	doc, err := st.Export(ctx, rest[0])
	if err != nil {
		return err
	}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	body = append(body, '\n')
	if output == "" {
		_, err = out.Write(body)
		return err
	}
	return writeFileAtomic(output, body)
}

// writeFileAtomic writes data beside path and renames it into place, so a
// reader never finds half a file and a failed write leaves the old one.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// runImport applies files written by export (or standard input, "-" or no
// file) in one transaction, upserting each row by its primary key.
func runImport(ctx context.Context, args []string, out io.Writer) error {
	cfg, files, err := app.LoadConfig("import", args, nil)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	var docs []store.Document
	for _, f := range files {
		var r io.Reader = stdin
		name := "standard input"
		if f != "-" {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			defer fh.Close()
			r, name = fh, f
		}
		dec := json.NewDecoder(r)
		dec.DisallowUnknownFields()
		var d store.Document
		if err := dec.Decode(&d); err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		docs = append(docs, d)
	}
	st, err := store.Open(ctx, cfg.Database.URL, store.PoolOptions{MaxConns: 1})
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer st.Close()
	res, err := st.Import(ctx, docs...)
	if err != nil {
		return err
	}
	tables := make([]string, 0, len(res))
	for t := range res {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		fmt.Fprintf(out, "%s: %d rows\n", t, res[t])
	}
	if len(tables) == 0 {
		fmt.Fprintln(out, "nothing to import")
	}
	return nil
}
