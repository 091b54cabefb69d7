#!/usr/bin/env bash
# Local Postgres and Redis for `make run` and `make test`, bound to 127.0.0.1
# only, Gorush (push notifications) when GORUSH=local is set, and Mailpit
# (an SMTP server that keeps what it receives) for the test profile and,
# with MAILPIT=local, the dev profile.
#
# usage: deploy/local/services.sh start|stop|status|env|clean dev|test
#
#   profile  data        Postgres  Redis  Gorush  Mailpit SMTP/HTTP  durability
#   dev      .data/dev   55432     56379  58088   51025/58025        fsync on, Redis AOF, mail kept
#   test     .data/test  55433     56380  58089   51026/58026        fsync off, Redis and mail in memory only
#
# PG_PORT, REDIS_PORT, GORUSH_PORT, MAILPIT_SMTP_PORT and MAILPIT_HTTP_PORT
# override the ports (pass the same values to every command of one profile). PG_BIN points at the PostgreSQL server
# binaries (default /usr/lib/postgresql/15/bin, else `pg_config --bindir`).
#
# Postgres refuses to run as root. Run as root, this script runs it as
# PG_OS_USER (default: `postgres` if that user exists, else the system user
# `incident-pg`, created on demand). When that user cannot reach the repository
# (a checkout under a private directory), the cluster lives under
# /var/tmp/incident-server-<hash>/<profile> instead; `clean` removes it too.
#
# Gorush is opt-in: `start` and `env` include it only when GORUSH=local (any
# other non-empty value is an error). It runs bin/gorush (`make bin/gorush`)
# with iOS enabled against a P-256 key generated once per data directory, so
# it starts offline: APNs is unreachable, and every push is accepted and
# reported failed in the response. `stop`, `status` and `clean` handle a
# running Gorush whatever GORUSH says.
#
# Mailpit runs bin/mailpit (`make bin/mailpit`): always for the test profile,
# for dev only with MAILPIT=local (any other non-empty value is an error).
# Its SMTP port offers STARTTLS with a self-signed certificate generated once
# per data directory (smtp.crt, valid for 127.0.0.1 and localhost), accepts
# any AUTH PLAIN or LOGIN credentials (with or without STARTTLS: it is a
# sink, not a relay) and mail without AUTH. Its HTTP API reads back what it
# received.
# `stop`, `status` and `clean` handle a running Mailpit whatever MAILPIT says.
#
# `env` prints DATABASE_URL=…, REDIS_ADDR=…, with GORUSH=local GORUSH_URL=…,
# and when Mailpit belongs to the profile MAILPIT_SMTP_ADDR=… (host:port),
# MAILPIT_URL=… (its HTTP API) and MAILPIT_SMTP_CA=… (the certificate to
# trust for STARTTLS) lines for eval; every other message goes to stderr.
# `status` exits 0 when every requested service runs (Postgres, Redis, Gorush
# with GORUSH=local, Mailpit when it belongs to the profile), 3 otherwise.
set -euo pipefail

log() { printf 'services.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
usage() {
	printf 'usage: %s start|stop|status|env|clean dev|test\n' "$0" >&2
	exit 2
}

[[ $# -eq 2 ]] || usage
cmd=$1
profile=$2

case $profile in
dev)
	pg_port=${PG_PORT:-55432}
	redis_port=${REDIS_PORT:-56379}
	gorush_port=${GORUSH_PORT:-58088}
	mailpit_smtp_port=${MAILPIT_SMTP_PORT:-51025}
	mailpit_http_port=${MAILPIT_HTTP_PORT:-58025}
	;;
test)
	pg_port=${PG_PORT:-55433}
	redis_port=${REDIS_PORT:-56380}
	gorush_port=${GORUSH_PORT:-58089}
	mailpit_smtp_port=${MAILPIT_SMTP_PORT:-51026}
	mailpit_http_port=${MAILPIT_HTTP_PORT:-58026}
	;;
*) usage ;;
esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
data=$repo/.data/$profile
# Used only when the unprivileged Postgres user cannot traverse $data.
alt_home=/var/tmp/incident-server-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)/$profile
is_root=false
[[ $(id -u) -eq 0 ]] && is_root=true

case ${GORUSH:-} in
"") gorush_wanted=false ;;
local) gorush_wanted=true ;;
*) die "GORUSH=${GORUSH} is not understood: set GORUSH=local to run a local Gorush, or leave it unset" ;;
esac

# The test profile always has Mailpit: the email channel's tests deliver to
# it. MAILPIT rather than MAIL, which login shells set to the mail spool.
case ${MAILPIT:-} in
"") mailpit_wanted=false ;;
local) mailpit_wanted=true ;;
*) die "MAILPIT=${MAILPIT} is not understood: set MAILPIT=local to run a local Mailpit, or leave it unset" ;;
esac
if [[ $profile == test ]]; then
	mailpit_wanted=true
fi

# ---------------------------------------------------------------- Postgres

pg_bin=""
find_pg_bin() {
	pg_bin=${PG_BIN:-}
	if [[ -z $pg_bin ]]; then
		if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
			pg_bin=/usr/lib/postgresql/15/bin
		elif command -v pg_config >/dev/null 2>&1; then
			pg_bin=$(pg_config --bindir)
		fi
	fi
	if [[ -z $pg_bin || ! -x $pg_bin/pg_ctl || ! -x $pg_bin/initdb ]]; then
		die "PostgreSQL server binaries not found (PG_BIN, /usr/lib/postgresql/15/bin, pg_config --bindir); install postgresql or set PG_BIN"
	fi
}

psql_bin() {
	if [[ -x $pg_bin/psql ]]; then
		printf '%s\n' "$pg_bin/psql"
	else
		command -v psql || die "psql not found"
	fi
}

# pg_home holds the cluster (pg/), its log (pg.log) and its socket directory.
# An existing cluster is used where it is; a new one goes under $data unless
# the Postgres user cannot reach it.
pg_home=""
find_pg_home() {
	if [[ -f $data/pg/PG_VERSION ]]; then
		pg_home=$data
	elif [[ -f $alt_home/pg/PG_VERSION ]]; then
		pg_home=$alt_home
	else
		pg_home=$data
	fi
}

# pg_user is the account that runs initdb, pg_ctl and postgres when we are
# root; empty when we are not.
pg_user=""
ensure_pg_user() {
	$is_root || return 0
	pg_user=${PG_OS_USER:-}
	if [[ -z $pg_user ]]; then
		if id -u postgres >/dev/null 2>&1; then
			pg_user=postgres
		else
			pg_user=incident-pg
		fi
	fi
	if ! id -u "$pg_user" >/dev/null 2>&1; then
		log "creating system user $pg_user to run Postgres (it refuses to run as root)"
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$pg_user"
	fi
}

# as_pg runs a PostgreSQL tool as $pg_user when set, from / so that a private
# working directory does not trouble it.
as_pg() {
	if [[ -n $pg_user ]]; then
		(cd / && runuser -u "$pg_user" -- "$@")
	else
		"$@"
	fi
}

# pg_user_of_cluster sets pg_user to the owner of an existing cluster.
pg_user_of_cluster() {
	pg_user=""
	if $is_root; then
		pg_user=$(stat -c %U "$pg_home/pg")
	fi
}

# pid_alive succeeds when pid is a live process. A killed daemon can linger as
# a zombie when nothing reaps orphans (PID 1 in some containers), and kill -0,
# pg_ctl status and Postgres' own lock-file check all take a zombie for alive.
pid_alive() {
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n $state && $state != Z* ]]
}

# pg_pid prints the postmaster's pid when the cluster's postmaster.pid names a
# live Postgres process.
pg_pid() {
	local file=$pg_home/pg/postmaster.pid pid
	[[ -s $file ]] || return 1
	pid=$(head -n 1 "$file")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	pid_alive "$pid" || return 1
	[[ $(ps -o comm= -p "$pid" 2>/dev/null) == postgres* ]] || return 1
	printf '%s\n' "$pid"
}

pg_running() {
	pg_pid >/dev/null
}

# pg_running_port prints the port recorded by the running postmaster.
pg_running_port() {
	sed -n 4p "$pg_home/pg/postmaster.pid" 2>/dev/null || true
}

pg_log_tail() {
	if [[ -f $pg_home/pg.log ]]; then
		log "last lines of $pg_home/pg.log:"
		tail -n 20 "$pg_home/pg.log" >&2
	fi
}

pg_start() {
	find_pg_bin
	find_pg_home
	mkdir -p "$data"
	if $is_root && [[ ! -f $pg_home/pg/PG_VERSION ]]; then
		ensure_pg_user
		if ! (cd / && runuser -u "$pg_user" -- test -x "$data"); then
			pg_home=$alt_home
			log "$pg_user cannot reach $data; keeping the $profile cluster in $pg_home"
		fi
	elif $is_root; then
		pg_user_of_cluster
		if [[ $pg_user == root ]]; then
			ensure_pg_user
		fi
	fi

	local pgdata=$pg_home/pg sock=$pg_home/socket
	mkdir -p "$pg_home" "$pgdata" "$sock"
	touch "$pg_home/pg.log"
	chmod 700 "$pgdata"
	if [[ -n $pg_user ]]; then
		chown -R "$pg_user:" "$pgdata" "$sock" "$pg_home/pg.log"
	fi

	if [[ ! -f $pgdata/PG_VERSION ]]; then
		log "initialising the $profile Postgres cluster in $pgdata"
		if ! as_pg "$pg_bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C \
			>"$pg_home/initdb.log" 2>&1; then
			tail -n 20 "$pg_home/initdb.log" >&2
			die "initdb failed; see $pg_home/initdb.log"
		fi
	fi

	if pg_running; then
		local running
		running=$(pg_running_port)
		if [[ -n $running && $running != "$pg_port" ]]; then
			die "the $profile Postgres already runs on port $running, not $pg_port; stop it first"
		fi
		log "Postgres ($profile) already running on 127.0.0.1:$pg_port"
	else
		if [[ -f $pgdata/postmaster.pid ]]; then
			# Left by a killed run: its pid is gone or a zombie. Postgres would
			# refuse to start while that pid still exists, so the lock files go.
			# Orphaned backends may hold shared memory a moment longer, hence
			# the retries below.
			log "removing stale postmaster.pid (pid $(head -n 1 "$pgdata/postmaster.pid") is not running)"
			rm -f "$pgdata/postmaster.pid" "$sock/.s.PGSQL.$pg_port.lock"
		fi
		local opts="-c listen_addresses=127.0.0.1 -p $pg_port -k '$sock' -c max_connections=200"
		if [[ $profile == test ]]; then
			opts+=" -c fsync=off"
		fi
		local attempt started=false
		for attempt in 1 2 3; do
			if as_pg "$pg_bin/pg_ctl" -D "$pgdata" -l "$pg_home/pg.log" -o "$opts" -w -t 60 start >/dev/null 2>&1; then
				started=true
				break
			fi
			log "Postgres ($profile) did not start (attempt $attempt of 3)"
			sleep 2
		done
		if ! $started; then
			pg_log_tail
			die "could not start Postgres ($profile) on 127.0.0.1:$pg_port"
		fi
		log "Postgres ($profile) running on 127.0.0.1:$pg_port"
	fi

	local psql exists
	psql=$(psql_bin)
	exists=$("$psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'incidents'")
	if [[ $exists != 1 ]]; then
		"$psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
			-c 'CREATE DATABASE incidents'
		log "created database incidents"
	fi
}

pg_stop() {
	find_pg_home
	[[ -f $pg_home/pg/PG_VERSION ]] || return 0
	find_pg_bin
	pg_user_of_cluster
	if pg_running; then
		as_pg "$pg_bin/pg_ctl" -D "$pg_home/pg" -m fast -w -t 60 stop >/dev/null
		log "Postgres ($profile) stopped"
	fi
}

pg_status() {
	find_pg_home
	if [[ -f $pg_home/pg/PG_VERSION ]]; then
		find_pg_bin
		pg_user_of_cluster
		if pg_running; then
			printf 'postgres %s: running on 127.0.0.1:%s (pid %s, data %s)\n' \
				"$profile" "$(pg_running_port)" "$(head -n 1 "$pg_home/pg/postmaster.pid")" "$pg_home/pg"
			return 0
		fi
	fi
	printf 'postgres %s: stopped\n' "$profile"
	return 3
}

# ------------------------------------------------------------------- Redis

redis_pidfile=$data/redis.pid

ensure_redis_installed() {
	command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
	if ! $is_root; then
		die "redis-server is not installed; install it with: sudo apt-get install redis-server"
	fi
	log "installing redis-server"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq redis-server >&2
	command -v redis-server >/dev/null 2>&1 || die "redis-server is still missing after apt-get install"
}

# redis_pid prints the pid of our Redis when it is alive; a pidfile left by a
# killed run, or whose pid now belongs to another program, does not count.
redis_pid() {
	local pid
	[[ -s $redis_pidfile ]] || return 1
	pid=$(<"$redis_pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	pid_alive "$pid" || return 1
	[[ $(ps -o comm= -p "$pid" 2>/dev/null) == redis-server* ]] || return 1
	printf '%s\n' "$pid"
}

redis_ping() {
	[[ $(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null) == PONG ]]
}

redis_start() {
	ensure_redis_installed
	if redis_pid >/dev/null; then
		log "Redis ($profile) already running on 127.0.0.1:$redis_port"
		return 0
	fi
	if redis_ping; then
		die "port $redis_port already answers as another Redis; stop it or set REDIS_PORT"
	fi
	mkdir -p "$data/redis"
	rm -f "$redis_pidfile"
	local args=(--bind 127.0.0.1 --port "$redis_port" --dir "$data/redis" --daemonize yes
		--pidfile "$redis_pidfile" --logfile "$data/redis.log" --save "")
	if [[ $profile == test ]]; then
		args+=(--appendonly no)
	else
		args+=(--appendonly yes)
	fi
	redis-server "${args[@]}" >&2
	local i
	for ((i = 0; i < 100; i++)); do
		if redis_ping; then
			log "Redis ($profile) running on 127.0.0.1:$redis_port"
			return 0
		fi
		sleep 0.1
	done
	if [[ -f $data/redis.log ]]; then
		log "last lines of $data/redis.log:"
		tail -n 20 "$data/redis.log" >&2
	fi
	die "Redis ($profile) did not answer PING on 127.0.0.1:$redis_port within 10 s"
}

redis_stop() {
	local pid i
	pid=$(redis_pid) || return 0
	command -v redis-cli >/dev/null 2>&1 || die "redis-cli not found"
	if [[ $profile == test ]]; then
		redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
	else
		redis-cli -h 127.0.0.1 -p "$redis_port" shutdown >/dev/null 2>&1 || true
	fi
	for ((i = 0; i < 100; i++)); do
		pid_alive "$pid" || break
		sleep 0.1
	done
	if pid_alive "$pid"; then
		# Not reachable on $redis_port (REDIS_PORT changed since start?):
		# SIGTERM is Redis's own graceful shutdown.
		kill -TERM "$pid"
		for ((i = 0; i < 100; i++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
	fi
	pid_alive "$pid" && die "Redis ($profile, pid $pid) did not stop"
	rm -f "$redis_pidfile"
	log "Redis ($profile) stopped"
}

redis_status() {
	local pid
	if pid=$(redis_pid); then
		printf 'redis %s: running on 127.0.0.1:%s (pid %s, data %s)\n' "$profile" "$redis_port" "$pid" "$data/redis"
		return 0
	fi
	printf 'redis %s: stopped\n' "$profile"
	return 3
}

# ------------------------------------------------------------------ Gorush

gorush_bin=$repo/bin/gorush
gorush_home=$data/gorush
gorush_pidfile=$gorush_home/gorush.pid
gorush_log=$gorush_home/gorush.log

# gorush_pid prints the pid of our Gorush when it is alive; a pidfile left by
# a killed run, or whose pid now belongs to another program, does not count.
gorush_pid() {
	local pid
	[[ -s $gorush_pidfile ]] || return 1
	pid=$(<"$gorush_pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	pid_alive "$pid" || return 1
	[[ $(ps -o comm= -p "$pid" 2>/dev/null) == gorush* ]] || return 1
	printf '%s\n' "$pid"
}

gorush_healthy() {
	curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$gorush_port/healthz" 2>/dev/null
}

# gorush_running_port prints the port of the config the running Gorush read.
gorush_running_port() {
	sed -n 's/^  port: "\([0-9]*\)"$/\1/p' "$gorush_home/config.yml" 2>/dev/null | head -n 1
}

# The logs are appended to across starts; gorush_log_tail shows only what
# the current start wrote, from the sizes gorush_mark_logs recorded.
gorush_log_files=()
gorush_log_sizes=()
gorush_mark_logs() {
	gorush_log_files=("$gorush_log" "$gorush_home/error.log")
	gorush_log_sizes=()
	local f
	for f in "${gorush_log_files[@]}"; do
		if [[ -f $f ]]; then
			gorush_log_sizes+=("$(wc -c <"$f")")
		else
			gorush_log_sizes+=(0)
		fi
	done
}

gorush_log_tail() {
	local i f
	for i in "${!gorush_log_files[@]}"; do
		f=${gorush_log_files[$i]}
		if [[ -f $f && $(wc -c <"$f") -gt ${gorush_log_sizes[$i]} ]]; then
			log "last lines of $f:"
			tail -c +"$((gorush_log_sizes[i] + 1))" "$f" | tail -n 20 >&2
		fi
	done
}

# port_in_use succeeds when something accepts connections on 127.0.0.1:$1.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# yaml_str quotes a string for a double-quoted YAML scalar.
yaml_str() {
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}

# gorush_configure writes the APNs key (once per data directory) and the
# config (on every start, so GORUSH_PORT applies).
# Keys are those of Gorush v1.22.0's config package. Android is enabled by
# Gorush's defaults and needs credentials, so it is switched off explicitly.
gorush_configure() {
	mkdir -p "$gorush_home"
	local key=$gorush_home/apns.p8
	if [[ ! -s $key ]]; then
		command -v openssl >/dev/null 2>&1 || die "openssl is needed to generate Gorush's APNs key; install it with: sudo apt-get install openssl"
		log "generating a local APNs key (P-256, PKCS#8) in $key"
		(
			umask 077
			openssl ecparam -name prime256v1 -genkey -noout |
				openssl pkcs8 -topk8 -nocrypt -out "$key.tmp"
		) || die "could not generate $key"
		mv "$key.tmp" "$key"
	fi
	# sync: true makes /api/push wait for every push and answer its result.
	# One worker and one concurrent iOS push: Gorush v1.22.0 appends those
	# results from concurrent pushes without a lock and can lose some.
	# hide_token: false lets the caller match a failed push to its device;
	# these are local, fake devices.
	cat >"$gorush_home/config.yml" <<-EOF
		# Written by deploy/local/services.sh on every start; edits are lost.
		core:
		  enabled: true
		  address: "127.0.0.1"
		  port: "$gorush_port"
		  shutdown_timeout: 5
		  worker_num: 1
		  queue_num: 64
		  max_notification: 100
		  sync: true
		  feedback_hook_url: ""
		  mode: "release"
		  ssl: false
		  pid:
		    enabled: false
		grpc:
		  enabled: false
		stat:
		  engine: "memory"
		ios:
		  enabled: true
		  key_path: $(yaml_str "$key")
		  key_type: "p8"
		  key_id: "ABC123DEFG"
		  team_id: "DEF123GHIJ"
		  production: false
		  max_concurrent_pushes: 1
		  max_retry: 0
		android:
		  enabled: false
		huawei:
		  enabled: false
		log:
		  format: "json"
		  access_log: $(yaml_str "$gorush_home/access.log")
		  access_level: "info"
		  error_log: $(yaml_str "$gorush_home/error.log")
		  error_level: "error"
		  hide_token: false
		  hide_messages: false
	EOF
}

gorush_start() {
	if [[ ! -x $gorush_bin ]]; then
		die "$gorush_bin is missing: run make bin/gorush (or start without GORUSH=local)"
	fi
	command -v curl >/dev/null 2>&1 || die "curl is needed to check Gorush's health; install it with: sudo apt-get install curl"
	local pid
	if pid=$(gorush_pid); then
		local running
		running=$(gorush_running_port)
		if [[ -n $running && $running != "$gorush_port" ]]; then
			die "the $profile Gorush already runs on port $running, not $gorush_port; stop it first"
		fi
		log "Gorush ($profile) already running on 127.0.0.1:$gorush_port"
		return 0
	fi
	if port_in_use "$gorush_port"; then
		die "port $gorush_port is already in use by another program; stop it or set GORUSH_PORT"
	fi
	gorush_configure
	gorush_mark_logs
	rm -f "$gorush_pidfile"
	# Gorush reads GORUSH_<SECTION>_<KEY> variables over its config file;
	# ones exported for docker-compose must not reach the local server.
	(
		cd "$gorush_home"
		for v in $(compgen -e); do
			if [[ $v == GORUSH_* ]]; then unset "$v"; fi
		done
		exec nohup "$gorush_bin" -c "$gorush_home/config.yml" >>"$gorush_log" 2>&1 </dev/null
	) &
	pid=$!
	printf '%s\n' "$pid" >"$gorush_pidfile"
	local i
	for ((i = 0; i < 150; i++)); do
		if gorush_healthy; then
			log "Gorush ($profile) running on 127.0.0.1:$gorush_port"
			return 0
		fi
		if ! pid_alive "$pid"; then
			gorush_log_tail
			rm -f "$gorush_pidfile"
			die "Gorush ($profile) exited while starting; its logs are in $gorush_home"
		fi
		sleep 0.1
	done
	gorush_log_tail
	gorush_stop >/dev/null 2>&1 || true
	die "Gorush ($profile) did not answer GET /healthz on 127.0.0.1:$gorush_port within 15 s"
}

gorush_stop() {
	local pid i
	pid=$(gorush_pid) || {
		rm -f "$gorush_pidfile"
		return 0
	}
	kill -TERM "$pid"
	for ((i = 0; i < 100; i++)); do
		pid_alive "$pid" || break
		sleep 0.1
	done
	if pid_alive "$pid"; then
		# It keeps no state worth a graceful shutdown: statistics are in memory.
		log "Gorush ($profile, pid $pid) ignored SIGTERM for 10 s; killing it"
		kill -KILL "$pid"
		for ((i = 0; i < 50; i++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
	fi
	pid_alive "$pid" && die "Gorush ($profile, pid $pid) did not stop"
	rm -f "$gorush_pidfile"
	log "Gorush ($profile) stopped"
}

gorush_status() {
	local pid
	if pid=$(gorush_pid); then
		printf 'gorush %s: running on 127.0.0.1:%s (pid %s, data %s)\n' \
			"$profile" "$(gorush_running_port)" "$pid" "$gorush_home"
		return 0
	fi
	if $gorush_wanted; then
		printf 'gorush %s: stopped\n' "$profile"
	else
		printf 'gorush %s: stopped (started only with GORUSH=local)\n' "$profile"
	fi
	return 3
}

# ----------------------------------------------------------------- Mailpit

mailpit_bin=$repo/bin/mailpit
mailpit_home=$data/mailpit
mailpit_pidfile=$mailpit_home/mailpit.pid
mailpit_log=$mailpit_home/mailpit.log
mailpit_cert=$mailpit_home/smtp.crt
mailpit_key=$mailpit_home/smtp.key

# mailpit_pid prints the pid of our Mailpit when it is alive; a pidfile left
# by a killed run, or whose pid now belongs to another program, does not count.
mailpit_pid() {
	local pid
	[[ -s $mailpit_pidfile ]] || return 1
	pid=$(<"$mailpit_pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	pid_alive "$pid" || return 1
	[[ $(ps -o comm= -p "$pid" 2>/dev/null) == mailpit* ]] || return 1
	printf '%s\n' "$pid"
}

mailpit_ready() {
	curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$mailpit_http_port/readyz" 2>/dev/null
}

# mailpit_running_ports prints "smtp http" as the running Mailpit was started.
mailpit_running_ports() {
	cat "$mailpit_home/ports" 2>/dev/null || true
}

# mailpit_certificate writes the STARTTLS key and self-signed certificate once
# per data directory: P-256, valid ten years for 127.0.0.1 and localhost.
mailpit_certificate() {
	[[ -s $mailpit_cert && -s $mailpit_key ]] && return 0
	command -v openssl >/dev/null 2>&1 || die "openssl is needed to generate Mailpit's certificate; install it with: sudo apt-get install openssl"
	log "generating a self-signed SMTP certificate for 127.0.0.1 in $mailpit_cert"
	(
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
			-subj "/CN=incident-server local mailpit" \
			-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
			-keyout "$mailpit_key.tmp" -out "$mailpit_cert.tmp" 2>/dev/null
	) || die "could not generate $mailpit_cert"
	chmod 644 "$mailpit_cert.tmp"
	mv "$mailpit_key.tmp" "$mailpit_key"
	mv "$mailpit_cert.tmp" "$mailpit_cert"
}

mailpit_start() {
	if [[ ! -x $mailpit_bin ]]; then
		die "$mailpit_bin is missing: run make bin/mailpit"
	fi
	command -v curl >/dev/null 2>&1 || die "curl is needed to check Mailpit's health; install it with: sudo apt-get install curl"
	local pid
	if pid=$(mailpit_pid); then
		local running
		running=$(mailpit_running_ports)
		if [[ -n $running && $running != "$mailpit_smtp_port $mailpit_http_port" ]]; then
			die "the $profile Mailpit already runs on ports $running (SMTP HTTP), not $mailpit_smtp_port $mailpit_http_port; stop it first"
		fi
		log "Mailpit ($profile) already running on 127.0.0.1:$mailpit_smtp_port (SMTP), 127.0.0.1:$mailpit_http_port (HTTP)"
		return 0
	fi
	local port
	for port in "$mailpit_smtp_port" "$mailpit_http_port"; do
		if port_in_use "$port"; then
			die "port $port is already in use by another program; stop it or set MAILPIT_SMTP_PORT / MAILPIT_HTTP_PORT"
		fi
	done
	mkdir -p "$mailpit_home"
	mailpit_certificate
	# STARTTLS is offered, not required, so plain delivery works too; any
	# credentials are accepted, and so is mail without them.
	local args=(--smtp "127.0.0.1:$mailpit_smtp_port" --listen "127.0.0.1:$mailpit_http_port"
		--smtp-tls-cert "$mailpit_cert" --smtp-tls-key "$mailpit_key" --smtp-auth-accept-any
		--smtp-disable-rdns --disable-version-check --log-file "$mailpit_log")
	if [[ $profile == dev ]]; then
		args+=(--database "$mailpit_home/mailpit.db")
	fi
	# Without --database Mailpit keeps its store in a temporary file that it
	# deletes when it stops: test mail does not outlive the run.
	local size=0
	[[ -f $mailpit_log ]] && size=$(wc -c <"$mailpit_log")
	rm -f "$mailpit_pidfile"
	# Mailpit reads MP_* variables over its flags; ones set for something
	# else must not reach the local server.
	(
		cd "$mailpit_home"
		for v in $(compgen -e); do
			if [[ $v == MP_* ]]; then unset "$v"; fi
		done
		exec nohup "$mailpit_bin" "${args[@]}" >>"$mailpit_log" 2>&1 </dev/null
	) &
	pid=$!
	printf '%s\n' "$pid" >"$mailpit_pidfile"
	printf '%s %s\n' "$mailpit_smtp_port" "$mailpit_http_port" >"$mailpit_home/ports"
	local i
	for ((i = 0; i < 150; i++)); do
		if mailpit_ready; then
			log "Mailpit ($profile) running on 127.0.0.1:$mailpit_smtp_port (SMTP), 127.0.0.1:$mailpit_http_port (HTTP)"
			return 0
		fi
		if ! pid_alive "$pid"; then
			log "last lines of $mailpit_log:"
			tail -c +"$((size + 1))" "$mailpit_log" | tail -n 20 >&2
			rm -f "$mailpit_pidfile"
			die "Mailpit ($profile) exited while starting; its log is $mailpit_log"
		fi
		sleep 0.1
	done
	log "last lines of $mailpit_log:"
	tail -c +"$((size + 1))" "$mailpit_log" | tail -n 20 >&2
	mailpit_stop >/dev/null 2>&1 || true
	die "Mailpit ($profile) did not answer GET /readyz on 127.0.0.1:$mailpit_http_port within 15 s"
}

mailpit_stop() {
	local pid i
	pid=$(mailpit_pid) || {
		rm -f "$mailpit_pidfile"
		return 0
	}
	kill -TERM "$pid"
	for ((i = 0; i < 100; i++)); do
		pid_alive "$pid" || break
		sleep 0.1
	done
	if pid_alive "$pid"; then
		log "Mailpit ($profile, pid $pid) ignored SIGTERM for 10 s; killing it"
		kill -KILL "$pid"
		for ((i = 0; i < 50; i++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
	fi
	pid_alive "$pid" && die "Mailpit ($profile, pid $pid) did not stop"
	rm -f "$mailpit_pidfile"
	log "Mailpit ($profile) stopped"
}

mailpit_status() {
	local pid
	if pid=$(mailpit_pid); then
		printf 'mailpit %s: running on ports %s (SMTP HTTP) (pid %s, data %s)\n' \
			"$profile" "$(mailpit_running_ports)" "$pid" "$mailpit_home"
		return 0
	fi
	if $mailpit_wanted; then
		printf 'mailpit %s: stopped\n' "$profile"
	else
		printf 'mailpit %s: stopped (started for dev only with MAILPIT=local)\n' "$profile"
	fi
	return 3
}

# -------------------------------------------------------------------- main

case $cmd in
start)
	if $gorush_wanted && [[ ! -x $gorush_bin ]]; then
		die "$gorush_bin is missing: run make bin/gorush (or start without GORUSH=local)"
	fi
	if $mailpit_wanted && [[ ! -x $mailpit_bin ]]; then
		die "$mailpit_bin is missing: run make bin/mailpit"
	fi
	ensure_redis_installed
	pg_start
	redis_start
	if $gorush_wanted; then
		gorush_start
	fi
	if $mailpit_wanted; then
		mailpit_start
	fi
	;;
stop)
	pg_stop
	redis_stop
	gorush_stop
	mailpit_stop
	;;
status)
	rc=0
	pg_status || rc=$?
	redis_status || rc=$?
	if $gorush_wanted; then
		gorush_status || rc=$?
	else
		gorush_status || true
	fi
	if $mailpit_wanted; then
		mailpit_status || rc=$?
	else
		mailpit_status || true
	fi
	exit "$rc"
	;;
env)
	printf 'DATABASE_URL=postgres://postgres@127.0.0.1:%s/incidents?sslmode=disable\n' "$pg_port"
	printf 'REDIS_ADDR=127.0.0.1:%s\n' "$redis_port"
	if $gorush_wanted; then
		printf 'GORUSH_URL=http://127.0.0.1:%s\n' "$gorush_port"
	fi
	if $mailpit_wanted; then
		printf 'MAILPIT_SMTP_ADDR=127.0.0.1:%s\n' "$mailpit_smtp_port"
		printf 'MAILPIT_URL=http://127.0.0.1:%s\n' "$mailpit_http_port"
		printf 'MAILPIT_SMTP_CA=%s\n' "$mailpit_cert"
	fi
	;;
clean)
	pg_stop
	redis_stop
	gorush_stop
	mailpit_stop
	rm -rf "$data" "$alt_home"
	rmdir "$(dirname "$alt_home")" 2>/dev/null || true
	log "removed the $profile data"
	;;
*) usage ;;
esac
