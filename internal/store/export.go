package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ExportFormat names the document Export writes and Import reads.
const ExportFormat = "incident-server.export/v1"

// Export kinds: what a document holds.
const (
	// ExportConfig is who gets paged and for what: users, their contact
	// methods and notification rules, on-call schedules with their
	// overrides, calendar feeds (their tokens' hashes) and handoff
	// subscriptions, services, integration keys (their secrets' hashes) and
	// maintenance windows. Heartbeat monitors are left out: each runs as a
	// workflow that only the API starts. The handoff notices' ledger is
	// left out like the pages' ledger: it is a record, not configuration.
	ExportConfig = "config"
	// ExportPolicies is the escalation and SLA policies and the runbooks.
	// Runbooks attached to a service need it: import a policies document
	// together with the config document that holds the service, or into a
	// database that has it.
	ExportPolicies = "policies"
)

// exportTables lists each kind's tables. importOrder is the order Import
// writes tables in, parents before the rows that reference them.
var (
	exportTables = map[string][]string{
		ExportConfig: {"users", "contact_methods", "notification_rules", "schedules", "schedule_overrides",
			"calendar_feeds", "handoff_subscriptions", "services", "integration_keys", "maintenance_windows"},
		ExportPolicies: {"escalation_policies", "sla_policies", "runbooks"},
	}
	importOrder = []string{
		"escalation_policies", "sla_policies", "users", "contact_methods", "notification_rules",
		"schedules", "schedule_overrides", "calendar_feeds", "handoff_subscriptions",
		"services", "integration_keys", "maintenance_windows", "runbooks",
	}
)

// Document is an export: the rows of each table of one kind, every column
// as Postgres renders it in JSON (times in UTC), ordered by primary key.
// The same data always gives the same bytes.
type Document struct {
	Format string                       `json:"format"`
	Kind   string                       `json:"kind"`
	Tables map[string][]json.RawMessage `json:"tables"`
}

// Export reads every row of kind's tables in one snapshot.
func (s *Store) Export(ctx context.Context, kind string) (Document, error) {
	tables, ok := exportTables[kind]
	if !ok {
		return Document{}, fmt.Errorf("export: unknown kind %q (want %s or %s)", kind, ExportConfig, ExportPolicies)
	}
	doc := Document{Format: ExportFormat, Kind: kind, Tables: map[string][]json.RawMessage{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// Times render in the session's zone: fix it, so an export does not
		// depend on the server's settings.
		if _, err := tx.Exec(ctx, `SET LOCAL TimeZone = 'UTC'`); err != nil {
			return err
		}
		for _, table := range tables {
			key, err := primaryKey(ctx, tx, table)
			if err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT to_jsonb(t)::text FROM `+pgx.Identifier{table}.Sanitize()+` t ORDER BY `+quoteAll(key))
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			out := make([]json.RawMessage, len(texts))
			for i, t := range texts {
				out[i] = json.RawMessage(t)
			}
			doc.Tables[table] = out
		}
		return nil
	})
	if err != nil {
		return Document{}, fmt.Errorf("export %s: %w", kind, err)
	}
	return doc, nil
}

// ImportResult counts the rows Import wrote per table.
type ImportResult map[string]int

// Import upserts the rows of every document by primary key, all in one
// transaction: either every row is written or none is. Rows the database
// has and the documents lack are kept. A key no column answers to, an
// unknown table or kind, and rows Postgres rejects (a service whose policy
// is in neither the database nor the documents) are errors.
func (s *Store) Import(ctx context.Context, docs ...Document) (ImportResult, error) {
	byTable := map[string][]json.RawMessage{}
	for _, d := range docs {
		if d.Format != ExportFormat {
			return nil, fmt.Errorf("import: format %q is not %s", d.Format, ExportFormat)
		}
		allowed, ok := exportTables[d.Kind]
		if !ok {
			return nil, fmt.Errorf("import: unknown kind %q", d.Kind)
		}
		for table, rows := range d.Tables {
			if !slices.Contains(allowed, table) {
				return nil, fmt.Errorf("import: a %s export holds no table %q", d.Kind, table)
			}
			byTable[table] = append(byTable[table], rows...)
		}
	}
	res := ImportResult{}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, table := range importOrder {
			rows := byTable[table]
			if len(rows) == 0 {
				continue
			}
			n, err := upsertRows(ctx, tx, table, rows)
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			res[table] = n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return res, nil
}

// upsertRows writes rows into table: the columns are the keys the rows
// carry, so a column added since the export keeps its default.
func upsertRows(ctx context.Context, tx pgx.Tx, table string, rows []json.RawMessage) (int, error) {
	cols, err := tableColumns(ctx, tx, table)
	if err != nil {
		return 0, err
	}
	key, err := primaryKey(ctx, tx, table)
	if err != nil {
		return 0, err
	}
	present := map[string]bool{}
	for i, raw := range rows {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return 0, fmt.Errorf("row %d: %w", i+1, err)
		}
		for k := range obj {
			if !slices.Contains(cols, k) {
				return 0, fmt.Errorf("row %d: unknown column %q", i+1, k)
			}
			present[k] = true
		}
	}
	for _, k := range key {
		if !present[k] {
			return 0, fmt.Errorf("rows lack the key column %q", k)
		}
	}
	var use, set []string
	for _, c := range cols { // table order, so the statement is stable
		if !present[c] {
			continue
		}
		use = append(use, c)
		if !slices.Contains(key, c) {
			q := pgx.Identifier{c}.Sanitize()
			set = append(set, q+" = EXCLUDED."+q)
		}
	}
	conflict := "DO NOTHING"
	if len(set) > 0 {
		conflict = "DO UPDATE SET " + strings.Join(set, ", ")
	}
	t := pgx.Identifier{table}.Sanitize()
	arr, err := json.Marshal(rows)
	if err != nil {
		return 0, err
	}
	q := `INSERT INTO ` + t + ` (` + quoteAll(use) + `) SELECT ` + quoteAll(use) +
		` FROM jsonb_populate_recordset(NULL::` + t + `, $1::jsonb) ON CONFLICT (` + quoteAll(key) + `) ` + conflict
	tag, err := tx.Exec(ctx, q, string(arr))
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

func tableColumns(ctx context.Context, tx pgx.Tx, table string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT attname FROM pg_attribute
		WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func primaryKey(ctx context.Context, tx pgx.Tx, table string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		WHERE i.indrelid = $1::text::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`, table)
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", table, err)
	}
	key, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", table, err)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%s has no primary key", table)
	}
	return key, nil
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// ExportKinds lists the kinds Export knows, sorted.
func ExportKinds() []string { return slices.Sorted(maps.Keys(exportTables)) }
