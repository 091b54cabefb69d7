#!/usr/bin/env bash
# disaster-recovery.sh: bring the incident platform back from backups: the
# database, then the application state, then the workloads, then verify.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: disaster-recovery.sh --backup FILE|s3://... [options] --yes

Recovers in the guide's order (RTO 4 h, RPO 15 min):
  1. fetch the database backup (a local file, an s3:// object, or with
     --latest the newest object under --backup-prefix);
  2. restore it: a pg_dump file (*.sql.gz, *.sql, from the postgres-backup
     CronJob) through psql, any other file with
     `incident-server restore --from FILE`;
  3. import application-state exports (--import, from the
     application-state-backup CronJob) with `incident-server import FILE`;
  4. apply the kustomize overlay with deploy.sh, which migrates, waits for
     the rollout and runs the smoke tests when --base-url is given;
  5. recreate the Temporal schedules with `incident-server schedules sync`.

The restore and import steps run the incident-server binary here, against
--database-url (the primary itself, not PgBouncer; port-forward to reach it).

  --backup FILE|URI      database backup to restore
  --latest               take the newest object under --backup-prefix instead
  --backup-prefix URI    s3:// prefix of the database dumps (default
                         $BACKUP_S3_URI/database/)
  --import FILE          application-state export to import (repeatable)
  --database-url URL     primary database (default $DATABASE_DIRECT_URL)
  --overlay DIR          kustomize overlay (default deploy/k8s/overlays/production)
  --namespace NS         namespace (default incident-management)
  --base-url URL         API URL for the smoke tests (default $INCIDENT_BASE_URL)
  --token TOKEN          bearer token for the smoke tests (default $INCIDENT_TOKEN)
  --binary PATH          incident-server binary (default: incident-server on PATH)
  --skip-deploy          restore data only
  --dry-run              print the plan and stop
  --yes                  required: the restore overwrites the database
  -h, --help             show this help

Exit status: 0 recovered, 1 a step failed, 2 bad usage.
USAGE
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
backup=
latest=false
prefix=${BACKUP_S3_URI:+${BACKUP_S3_URI%/}/database/}
imports=()
url=${DATABASE_DIRECT_URL:-}
overlay=$here/../k8s/overlays/production
namespace=incident-management
base_url=${INCIDENT_BASE_URL:-}
token=${INCIDENT_TOKEN:-}
binary=incident-server
skip_deploy=false
dry_run=false
yes=false

while (($# > 0)); do
	case $1 in
	--backup) backup=${2:?--backup needs a value}; shift 2 ;;
	--latest) latest=true; shift ;;
	--backup-prefix) prefix=${2:?--backup-prefix needs a value}; shift 2 ;;
	--import) imports+=("${2:?--import needs a value}"); shift 2 ;;
	--database-url) url=${2:?--database-url needs a value}; shift 2 ;;
	--overlay) overlay=${2:?--overlay needs a value}; shift 2 ;;
	--namespace) namespace=${2:?--namespace needs a value}; shift 2 ;;
	--base-url) base_url=${2:?--base-url needs a value}; shift 2 ;;
	--token) token=${2:?--token needs a value}; shift 2 ;;
	--binary) binary=${2:?--binary needs a value}; shift 2 ;;
	--skip-deploy) skip_deploy=true; shift ;;
	--dry-run) dry_run=true; shift ;;
	--yes) yes=true; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "disaster-recovery.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done

log() { echo "disaster-recovery.sh: $*" >&2; }
die() { log "$*"; exit 2; }
if $latest; then
	[[ -z $backup ]] || die "--backup and --latest exclude each other"
	[[ $prefix == s3://* ]] || die "--latest needs an s3:// --backup-prefix (or BACKUP_S3_URI)"
else
	[[ -n $backup ]] || die "say which backup: --backup FILE|s3://... or --latest"
fi
[[ -n $url ]] || die "no database: pass --database-url or set DATABASE_DIRECT_URL"

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is required"
}
if $latest || [[ $backup == s3://* ]]; then need aws; fi
case ${backup:-.sql.gz} in
*.sql.gz | *.sql) need psql ;;
*) need "$binary" ;;
esac
if ((${#imports[@]} > 0)); then need "$binary"; fi
$skip_deploy || need kubectl

if $latest; then
	# aws s3 ls lists "date time size name", oldest first by name for
	# incidents_YYYYmmdd_HHMMSS.sql.gz.
	name=$(aws s3 ls "$prefix" | awk '{print $4}' | grep -E '^incidents_.*\.sql\.gz$' | sort | tail -n 1 || true)
	[[ -n $name ]] || { log "no incidents_*.sql.gz under $prefix"; exit 1; }
	backup=${prefix%/}/$name
fi

log "plan:"
# The URL's credentials stay out of the log.
log "  restore $backup into the database at ${url##*@}"
for f in "${imports[@]}"; do log "  import $f"; done
$skip_deploy || log "  apply $overlay to namespace $namespace, smoke tests ${base_url:-skipped}"
$skip_deploy || log "  incident-server schedules sync"
if $dry_run; then
	exit 0
fi
$yes || die "the restore overwrites the database: add --yes"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { log "step: $*"; }

local_backup=$backup
if [[ $backup == s3://* ]]; then
	step "fetch $backup"
	local_backup=$work/${backup##*/}
	aws s3 cp "$backup" "$local_backup"
fi
[[ -f $local_backup ]] || { log "$local_backup is not a file"; exit 1; }

step "restore the database"
case $local_backup in
*.sql.gz) gunzip -c "$local_backup" | psql "$url" -X -v ON_ERROR_STOP=1 -q -1 -f - ;;
*.sql) psql "$url" -X -v ON_ERROR_STOP=1 -q -1 -f "$local_backup" ;;
*) DATABASE_URL=$url "$binary" restore --from "$local_backup" ;;
esac

for f in "${imports[@]}"; do
	step "import $f"
	if [[ $f == s3://* ]]; then
		aws s3 cp "$f" "$work/${f##*/}"
		f=$work/${f##*/}
	fi
	DATABASE_URL=$url "$binary" import "$f"
done

if $skip_deploy; then
	log "data restored; deployment skipped"
	exit 0
fi

step "deploy"
args=(--overlay "$overlay" --namespace "$namespace")
if [[ -n $base_url ]]; then args+=(--base-url "$base_url"); fi
INCIDENT_TOKEN=$token "$here/deploy.sh" "${args[@]}" --sync-schedules

log "recovered"
