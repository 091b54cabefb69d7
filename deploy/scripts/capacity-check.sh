#!/usr/bin/env bash
# capacity-check.sh: how close the incident-server workloads are to their
# limits: node and pod usage, memory against each container's limit, the
# autoscaler's headroom and storage.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: capacity-check.sh [options]

Prints node and pod usage (`kubectl top`, which needs metrics-server), each
pod's memory as a share of its limit, the HorizontalPodAutoscaler's state
and the namespace's PersistentVolumeClaims.

  --namespace NS     namespace (default incident-management)
  --threshold PCT    memory share of the limit that counts as tight (default 80)
  -h, --help         show this help

Exit status: 0 there is headroom, 1 a pod is above the threshold or the
autoscaler is at its maximum, 2 bad usage or the data is unavailable.
USAGE
}

namespace=incident-management
threshold=80
while (($# > 0)); do
	case $1 in
	--namespace) namespace=${2:?--namespace needs a value}; shift 2 ;;
	--threshold) threshold=${2:?--threshold needs a value}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "capacity-check.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done
if [[ ! $threshold =~ ^[0-9]+$ ]] || ((threshold == 0 || threshold > 100)); then
	echo "capacity-check.sh: --threshold is a percentage between 1 and 100" >&2
	exit 2
fi
if ! command -v kubectl >/dev/null 2>&1; then
	echo "capacity-check.sh: kubectl is required" >&2
	exit 2
fi
k() { kubectl --namespace "$namespace" "$@"; }

# mebibytes prints a Kubernetes memory quantity in MiB.
mebibytes() {
	local q=$1
	case $q in
	*Ki) echo $((${q%Ki} / 1024)) ;;
	*Mi) echo "${q%Mi}" ;;
	*Gi) echo $((${q%Gi} * 1024)) ;;
	*Ti) echo $((${q%Ti} * 1024 * 1024)) ;;
	*k) echo $((${q%k} * 1000 / 1048576)) ;;
	*M) echo $((${q%M} * 1000000 / 1048576)) ;;
	*G) echo $((${q%G} * 1000000000 / 1048576)) ;;
	'' | *[!0-9]*) echo 0 ;;
	*) echo $((q / 1048576)) ;;
	esac
}

tight=0

echo "=== Nodes ==="
if ! kubectl top nodes; then
	echo "capacity-check.sh: kubectl top failed; is metrics-server installed?" >&2
	exit 2
fi

echo
echo "=== Pods, by memory ==="
k top pods --sort-by=memory

echo
echo "=== Memory against limits (tight at ${threshold}%) ==="
declare -A limit=()
while read -r pod lim; do
	[[ -n $pod ]] && limit[$pod]=$(mebibytes "$lim")
done < <(k get pods -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.containers[0].resources.limits.memory}{"\n"}{end}')
while read -r pod _ mem; do
	used=$(mebibytes "$mem")
	lim=${limit[$pod]:-0}
	if ((lim == 0)); then
		printf '%-55s %6s MiB  (no limit)\n' "$pod" "$used"
		continue
	fi
	pct=$((used * 100 / lim))
	mark=
	if ((pct >= threshold)); then
		mark="  TIGHT"
		tight=1
	fi
	printf '%-55s %6s / %6s MiB  %3s%%%s\n' "$pod" "$used" "$lim" "$pct" "$mark"
done < <(k top pods --no-headers)

echo
echo "=== Autoscaling ==="
k get hpa
while read -r name current max; do
	[[ -z $name ]] && continue
	if [[ -n $current && -n $max ]] && ((current >= max)); then
		echo "capacity-check.sh: $name runs $current of at most $max replicas: no headroom left" >&2
		tight=1
	fi
done < <(k get hpa -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.currentReplicas}{" "}{.spec.maxReplicas}{"\n"}{end}')

echo
echo "=== Storage ==="
k get pvc -o custom-columns=NAME:.metadata.name,STATUS:.status.phase,CAPACITY:.status.capacity.storage,CLASS:.spec.storageClassName

if ((tight)); then
	echo "capacity-check.sh: capacity is tight; see above" >&2
	exit 1
fi
echo "capacity-check.sh: headroom everywhere" >&2
