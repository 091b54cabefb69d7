#!/usr/bin/env bash
# rollback.sh: roll the api and worker Deployments back to an earlier
# revision, wait for them and run the smoke tests.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: rollback.sh [options]

Rolls back with `kubectl rollout undo`, waits until the rollout is complete
and runs smoke-tests.sh when a base URL is given.

  --to-revision N      revision to return to (default: the previous one;
                       see `kubectl rollout history deployment/incident-server`)
  --deployment NAME    roll back only this Deployment (repeatable; default
                       incident-server and incident-server-worker)
  --namespace NS       namespace (default incident-management)
  --timeout DURATION   rollout timeout (default 300s)
  --base-url URL       API URL for smoke-tests.sh (default $INCIDENT_BASE_URL;
                       no smoke tests when empty)
  --token TOKEN        bearer token for the smoke tests (default $INCIDENT_TOKEN)
  -h, --help           show this help

Exit status: 0 rolled back and healthy, 1 failed, 2 bad usage.
USAGE
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
revision=
deployments=()
namespace=incident-management
timeout=300s
base_url=${INCIDENT_BASE_URL:-}
token=${INCIDENT_TOKEN:-}

while (($# > 0)); do
	case $1 in
	--to-revision) revision=${2:?--to-revision needs a value}; shift 2 ;;
	--deployment) deployments+=("${2:?--deployment needs a value}"); shift 2 ;;
	--namespace) namespace=${2:?--namespace needs a value}; shift 2 ;;
	--timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
	--base-url) base_url=${2:?--base-url needs a value}; shift 2 ;;
	--token) token=${2:?--token needs a value}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "rollback.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done
if ((${#deployments[@]} == 0)); then
	deployments=(incident-server incident-server-worker)
fi
if [[ -n $revision && ! $revision =~ ^[0-9]+$ ]]; then
	echo "rollback.sh: --to-revision takes a revision number" >&2
	exit 2
fi
if ! command -v kubectl >/dev/null 2>&1; then
	echo "rollback.sh: kubectl is required" >&2
	exit 2
fi
log() { echo "rollback.sh: $*" >&2; }
k() { kubectl --namespace "$namespace" "$@"; }

status=0
for d in "${deployments[@]}"; do
	log "rolling back deployment/$d${revision:+ to revision $revision}"
	args=(rollout undo "deployment/$d")
	if [[ -n $revision ]]; then
		args+=(--to-revision "$revision")
	fi
	if ! k "${args[@]}"; then
		log "FAILED: rollout undo of $d"
		status=1
		continue
	fi
	if ! k rollout status "deployment/$d" --timeout "$timeout"; then
		log "FAILED: $d did not become ready"
		status=1
	fi
done
if ((status != 0)); then
	exit "$status"
fi

if [[ -n $base_url ]]; then
	log "smoke tests against $base_url"
	if ! INCIDENT_TOKEN=$token "$here/smoke-tests.sh" --base-url "$base_url" >/dev/null; then
		log "FAILED: smoke tests after the rollback"
		exit 1
	fi
fi
log "rolled back"
