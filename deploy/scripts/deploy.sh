#!/usr/bin/env bash
# deploy.sh: apply a kustomize overlay, wait for the rollout, verify it and
# roll back automatically when any step fails.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: deploy.sh [options]

Applies a kustomize overlay with `kubectl apply -k` (optionally with a new
image), waits for the migration Job and for the api and worker Deployments
to roll out, checks every replica is ready and runs smoke-tests.sh when a
base URL is given. When a step fails, every Deployment this run changed is
rolled back with `kubectl rollout undo` and the script exits 1.

  --overlay DIR        kustomize directory (default deploy/k8s/overlays/production
                       beside this script)
  --image IMAGE        release image, e.g. REGISTRY/incident-server:1.4.2
                       (default: the overlay's)
  --namespace NS       namespace (default incident-management)
  --timeout DURATION   rollout and migration timeout (default 600s)
  --base-url URL       API URL for smoke-tests.sh after the rollout (default
                       $INCIDENT_BASE_URL; no smoke tests when empty)
  --token TOKEN        bearer token for the smoke tests (default $INCIDENT_TOKEN)
  --sync-schedules     run `incident-server schedules sync` in a worker pod
                       after the rollout
  --dry-run            show what would be applied (kubectl --dry-run=server)
  -h, --help           show this help

Exit status: 0 deployed, 1 failed (and rolled back), 2 bad usage.
USAGE
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
overlay=$here/../k8s/overlays/production
image=
namespace=incident-management
timeout=600s
base_url=${INCIDENT_BASE_URL:-}
token=${INCIDENT_TOKEN:-}
sync_schedules=false
dry_run=false
deployments=(incident-server incident-server-worker)

while (($# > 0)); do
	case $1 in
	--overlay) overlay=${2:?--overlay needs a value}; shift 2 ;;
	--image) image=${2:?--image needs a value}; shift 2 ;;
	--namespace) namespace=${2:?--namespace needs a value}; shift 2 ;;
	--timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
	--base-url) base_url=${2:?--base-url needs a value}; shift 2 ;;
	--token) token=${2:?--token needs a value}; shift 2 ;;
	--sync-schedules) sync_schedules=true; shift ;;
	--dry-run) dry_run=true; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "deploy.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done

log() { echo "deploy.sh: $*" >&2; }
if ! command -v kubectl >/dev/null 2>&1; then
	log "kubectl is required"
	exit 2
fi
if [[ ! -f $overlay/kustomization.yaml ]]; then
	log "$overlay has no kustomization.yaml"
	exit 2
fi
overlay=$(cd "$overlay" && pwd)
k() { kubectl --namespace "$namespace" "$@"; }

# With --image, a kustomization beside the overlay layers the image over
# it (kustomize refuses absolute paths to a base, so it lives next door).
target=$overlay
if [[ -n $image ]]; then
	target=$(mktemp -d "$(dirname "$overlay")/.deploy.XXXXXX")
	trap 'rm -rf "$target"' EXIT
	name=${image%@*}
	tag=
	if [[ ${name##*/} == *:* ]]; then
		tag=${name##*:}
		name=${name%:*}
	fi
	{
		printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n'
		printf 'resources:\n  - ../%s\n' "$(basename "$overlay")"
		printf 'images:\n  - name: incident-server\n    newName: %s\n' "$name"
		if [[ $image == *@* ]]; then
			printf '    digest: %s\n' "${image#*@}"
		elif [[ -n $tag ]]; then
			printf '    newTag: "%s"\n' "$tag"
		fi
	} >"$target/kustomization.yaml"
	# The overlay's images entry renames incident-server first; match both.
	sed -n 's/^ *newName: *//p' "$overlay/kustomization.yaml" | head -n 1 | while read -r renamed; do
		printf '  - name: %s\n    newName: %s\n' "$renamed" "$name"
		if [[ $image == *@* ]]; then
			printf '    digest: %s\n' "${image#*@}"
		elif [[ -n $tag ]]; then
			printf '    newTag: "%s"\n' "$tag"
		fi
	done >>"$target/kustomization.yaml"
fi

if $dry_run; then
	log "dry run of $target"
	kubectl apply -k "$target" --dry-run=server
	exit 0
fi

# revision prints a Deployment's current revision, empty when it does not
# exist yet.
revision() {
	k get deployment "$1" -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}' 2>/dev/null || true
}
declare -A before=()
for d in "${deployments[@]}"; do
	before[$d]=$(revision "$d")
done

rollback() {
	log "FAILED: $*"
	local d rolled=0
	for d in "${deployments[@]}"; do
		local now
		now=$(revision "$d")
		if [[ -n ${before[$d]} && $now != "${before[$d]}" ]]; then
			log "rolling back deployment/$d from revision $now"
			k rollout undo "deployment/$d" || log "rollback of $d failed"
			k rollout status "deployment/$d" --timeout "$timeout" || log "rollback of $d did not become ready"
			rolled=1
		fi
	done
	if ((rolled == 0)); then
		log "no Deployment changed; nothing to roll back"
	fi
	exit 1
}

# The migration Job's pod template is immutable: the previous run's Job
# goes before the new one is applied.
k delete job incident-server-migrate --ignore-not-found --wait=true

log "applying $overlay${image:+ with image $image}"
kubectl apply -k "$target" || rollback "kubectl apply"

# await_migration returns 0 when the migration Job completes and 1 as soon
# as it fails or the timeout passes, whichever comes first.
await_migration() {
	local job=job/incident-server-migrate complete failed first status
	kubectl --namespace "$namespace" wait --for=condition=complete "$job" --timeout "$timeout" >/dev/null &
	complete=$!
	kubectl --namespace "$namespace" wait --for=condition=failed "$job" --timeout "$timeout" >/dev/null &
	failed=$!
	status=0
	wait -n -p first "$complete" "$failed" || status=$?
	kill "$complete" "$failed" 2>/dev/null || true
	wait "$complete" "$failed" 2>/dev/null || true
	[[ $first == "$complete" ]] && ((status == 0))
}

log "waiting for the schema migration"
await_migration || rollback "migration job (kubectl -n $namespace logs job/incident-server-migrate)"

for d in "${deployments[@]}"; do
	log "waiting for deployment/$d"
	k rollout status "deployment/$d" --timeout "$timeout" || rollback "rollout of $d"
	ready=$(k get deployment "$d" -o jsonpath='{.status.readyReplicas}')
	desired=$(k get deployment "$d" -o jsonpath='{.spec.replicas}')
	if [[ ${ready:-0} != "$desired" ]]; then
		rollback "$d has ${ready:-0}/$desired replicas ready"
	fi
	log "$d: $ready/$desired replicas ready"
done

if $sync_schedules; then
	log "syncing Temporal schedules"
	k exec deployment/incident-server-worker -- /usr/local/bin/incident-server schedules sync || rollback "schedules sync"
fi

if [[ -n $base_url ]]; then
	log "smoke tests against $base_url"
	INCIDENT_TOKEN=$token "$here/smoke-tests.sh" --base-url "$base_url" >/dev/null || rollback "smoke tests"
else
	log "no --base-url: smoke tests skipped"
fi

log "deployed"
