#!/usr/bin/env bash
# db-maintenance.sh: routine Postgres upkeep for the incident database:
# statistics, vacuum, optional reindex, and a report of unused indexes and
# dead rows.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: db-maintenance.sh [options]

Runs against the primary itself, not PgBouncer (VACUUM and REINDEX
CONCURRENTLY cannot run inside a transaction block, and the report reads
session statistics). Use a port-forward or a bastion to reach it.

  --database-url URL   connection string (default $DATABASE_DIRECT_URL, then
                       $DATABASE_URL)
  --reindex            also REINDEX DATABASE CONCURRENTLY (takes long on big
                       tables; no write locks)
  --report-only        only print the report; change nothing
  --dry-run            print the SQL instead of running it
  -h, --help           show this help

Needs psql. Exit status: 0 done, 1 a statement failed, 2 bad usage.
USAGE
}

url=${DATABASE_DIRECT_URL:-${DATABASE_URL:-}}
reindex=false
report_only=false
dry_run=false
while (($# > 0)); do
	case $1 in
	--database-url) url=${2:?--database-url needs a value}; shift 2 ;;
	--reindex) reindex=true; shift ;;
	--report-only) report_only=true; shift ;;
	--dry-run) dry_run=true; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "db-maintenance.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done
if [[ -z $url ]]; then
	echo "db-maintenance.sh: no database: pass --database-url or set DATABASE_DIRECT_URL" >&2
	exit 2
fi
if ! $dry_run && ! command -v psql >/dev/null 2>&1; then
	echo "db-maintenance.sh: psql is required" >&2
	exit 2
fi

# run SQL executes one statement on its own, outside a transaction block.
run() {
	echo "db-maintenance.sh: $1" >&2
	if $dry_run; then
		printf '%s\n' "$1"
		return
	fi
	printf '%s\n' "$1" | psql "$url" -X -v ON_ERROR_STOP=1 -q -f -
}

if ! $report_only; then
	run 'ANALYZE;'
	run 'VACUUM (ANALYZE);'
	if $reindex; then
		run "SELECT format('REINDEX DATABASE CONCURRENTLY %I', current_database()) \\gexec"
	fi
fi

# Indexes never scanned since statistics were last reset, biggest first;
# unique and primary-key indexes enforce constraints and are left out.
run "SELECT s.schemaname, s.relname AS table, s.indexrelname AS index,
       pg_size_pretty(pg_relation_size(s.indexrelid)) AS size, s.idx_scan AS scans
  FROM pg_stat_user_indexes s JOIN pg_index i USING (indexrelid)
 WHERE s.idx_scan = 0 AND NOT i.indisunique
 ORDER BY pg_relation_size(s.indexrelid) DESC;"
# Tables whose dead rows autovacuum has not caught up with.
run "SELECT schemaname, relname AS table, n_live_tup AS live, n_dead_tup AS dead,
       last_autovacuum, last_autoanalyze
  FROM pg_stat_user_tables
 ORDER BY n_dead_tup DESC
 LIMIT 10;"
