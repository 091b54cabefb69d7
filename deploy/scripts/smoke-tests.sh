#!/usr/bin/env bash
# smoke-tests.sh: drive one incident through the API, open → acknowledge →
# resolve, and check each answer. Exits 0 when every step passed, 1 when one
# failed, 2 on bad usage. The ID of the incident it made is the only thing
# printed on stdout; progress goes to stderr.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: smoke-tests.sh [--base-url URL] [--token TOKEN] [--service NAME] [--timeout SECONDS]

Opens an incident through the incident-server API, acknowledges it, resolves
it and reads it back, failing at the first answer that is not what the API
promises. The incident is real: it is recorded and appears in lists.

  --base-url URL     API base URL (default $INCIDENT_BASE_URL or http://127.0.0.1:8080)
  --token TOKEN      bearer token sent as "Authorization: Bearer TOKEN"
                     (default $INCIDENT_TOKEN; none when empty)
  --service NAME     service the incident is opened for (default smoke-test)
  --timeout SECONDS  limit for each request (default 30)
  -h, --help         show this help

Needs curl and jq. Prints the incident ID on stdout.
USAGE
}

base_url=${INCIDENT_BASE_URL:-http://127.0.0.1:8080}
token=${INCIDENT_TOKEN:-}
service=smoke-test
timeout=30

while (($# > 0)); do
	case $1 in
	--base-url) base_url=${2:?--base-url needs a value}; shift 2 ;;
	--base-url=*) base_url=${1#*=}; shift ;;
	--token) token=${2:?--token needs a value}; shift 2 ;;
	--token=*) token=${1#*=}; shift ;;
	--service) service=${2:?--service needs a value}; shift 2 ;;
	--service=*) service=${1#*=}; shift ;;
	--timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
	--timeout=*) timeout=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "smoke-tests.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done

for tool in curl jq; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "smoke-tests.sh: $tool is required" >&2
		exit 2
	fi
done
if [[ ! $timeout =~ ^[0-9]+$ ]] || ((timeout == 0)); then
	echo "smoke-tests.sh: --timeout must be a positive number of seconds" >&2
	exit 2
fi
base_url=${base_url%/}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The token goes to curl in a file, never on its command line.
headers=$work/headers
: >"$headers"
chmod 600 "$headers"
if [[ -n $token ]]; then
	printf 'Authorization: Bearer %s\n' "$token" >"$headers"
fi

fail() {
	echo "smoke-tests.sh: FAIL: $*" >&2
	exit 1
}

# call METHOD PATH [JSON] sets status and body.
status=
body=
call() {
	local method=$1 path=$2 data=${3:-}
	local args=(-sS -o "$work/body" -w '%{http_code}' -m "$timeout" -X "$method" -H @"$headers")
	if [[ -n $data ]]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$data")
	fi
	if ! status=$(curl "${args[@]}" "$base_url$path"); then
		fail "$method $path: no answer from $base_url"
	fi
	body=$(cat "$work/body")
}

# expect STATUS WHAT checks the last answer's status code.
expect() {
	if [[ $status != "$1" ]]; then
		fail "$2: HTTP $status, want $1: $body"
	fi
	echo "smoke-tests.sh: ok: $2" >&2
}

# field NAME prints a top-level string field of the last answer.
field() {
	jq -er --arg f "$1" '.[$f] | strings' <<<"$body" 2>/dev/null || fail "answer has no $1: $body"
}

call GET /health
expect 200 "liveness"
call GET /health/ready
expect 200 "readiness"

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
call POST /api/v1/incidents "$(jq -cn --arg s "$service" --arg t "smoke test $stamp" \
	'{title: $t, service: $s, severity: "low", description: "opened by deploy/scripts/smoke-tests.sh; resolved by it too"}')"
expect 201 "open"
id=$(field id)
[[ $(field status) == open ]] || fail "opened incident $id is $(field status)"

call POST "/api/v1/incidents/$id/acknowledge" '{"actor":"smoke-test","note":"smoke test"}'
expect 200 "acknowledge $id"
[[ $(field status) == acknowledged ]] || fail "acknowledged incident $id is $(field status)"

call POST "/api/v1/incidents/$id/resolve" '{"actor":"smoke-test","note":"smoke test done"}'
expect 200 "resolve $id"
[[ $(field status) == resolved ]] || fail "resolved incident $id is $(field status)"

call GET "/api/v1/incidents/$id"
expect 200 "read back $id"
[[ $(field status) == resolved ]] || fail "incident $id reads back as $(field status)"

call GET "/api/v1/incidents/$id/timeline"
expect 200 "timeline of $id"
types=$(jq -r '[.events[].type] | join(",")' <<<"$body")
for want in opened acknowledged resolved; do
	[[ ,$types, == *",$want,"* ]] || fail "timeline of $id lacks $want: $types"
done

echo "smoke-tests.sh: incident $id opened, acknowledged and resolved" >&2
printf '%s\n' "$id"
