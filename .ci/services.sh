#!/usr/bin/env bash
# The lock services of the named-lock tests: installs redis-server and
# PostgreSQL (Debian packages) when they are missing, starts each on a free
# loopback port in a directory of its own, and prints the variables the
# tests read, for `eval`:
#
#   eval "$(bash .ci/services.sh start)"   # PORTALOCKER_REDIS_URL, PORTALOCKER_POSTGRES_URL, PORTALOCKER_REDIS_PYTHON
#   bash .ci/services.sh stop              # stops what `start` started
#
# PostgreSQL refuses to run as root, so as root initdb and the server run as
# the `postgres` user. The state lives in target/services/ (ports, pids, data,
# logs). PORTALOCKER_REDIS_PYTHON is a venv's python with portalocker 4.4.2 and
# redis, for the interoperability tests with Python's `RedisLock`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=$repo/target/services
PORTALOCKER_PY_VERSION=4.4.2
REDIS_PY_VERSION=5.2.1

log() { echo "services: $*" >&2; }
die() { log "error: $*"; exit 1; }

# A TCP port nobody listens on, from 20000 up.
free_port() {
    local port
    for port in $(seq "$1" $(($1 + 2000))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free port from $1"
}

install_packages() {
    local missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get install -y -qq "${missing[@]}" || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }; } >&2 ||
            die "could not install ${missing[*]} with apt-get"
    fi
}

pg_bin() {
    local postgres
    postgres=$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n 1)
    [[ -n $postgres ]] || die "PostgreSQL is not installed"
    dirname "$postgres"
}

# Runs a command as the postgres user when we are root.
as_postgres() {
    if [[ $(id -u) == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_redis() {
    local port dir=$state/redis
    port=$(free_port 20000)
    rm -rf "$dir" && mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2
    for _ in $(seq 100); do
        redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
        sleep 0.1
    done
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG || die "redis-server did not start (see $dir/redis.log)"
    echo "$port" > "$dir/port"
    echo "export PORTALOCKER_REDIS_URL=redis://127.0.0.1:$port"
}

start_postgres() {
    local port bin dir=$state/postgres
    bin=$(pg_bin)
    port=$(free_port 25000)
    rm -rf "$dir" && mkdir -p "$dir"
    [[ $(id -u) == 0 ]] && chown postgres: "$dir" && chmod 700 "$dir"
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1 ||
        die "initdb failed (see $dir/initdb.log)"
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >&2 ||
        die "PostgreSQL did not start (see $dir/postgres.log)"
    echo "$port" > "$dir/port"
    echo "export PORTALOCKER_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
}

setup_python() {
    local venv=$state/venv
    if ! "$venv/bin/python" -c "import portalocker, redis; assert portalocker.__version__ == '$PORTALOCKER_PY_VERSION'" 2>/dev/null; then
        rm -rf "$venv"
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install -q "portalocker==$PORTALOCKER_PY_VERSION" "redis==$REDIS_PY_VERSION" >&2 ||
            die "could not install portalocker and redis into $venv"
    fi
    echo "export PORTALOCKER_REDIS_PYTHON=$venv/bin/python"
}

stop() {
    if [[ -f $state/redis/redis.pid ]]; then
        kill "$(cat "$state/redis/redis.pid")" 2>/dev/null || true
        rm -f "$state/redis/redis.pid"
    fi
    if [[ -f $state/postgres/data/postmaster.pid ]]; then
        as_postgres "$(pg_bin)/pg_ctl" -D "$state/postgres/data" -m fast stop >&2 || true
    fi
}

case ${1:-start} in
start)
    mkdir -p "$state"
    install_packages
    stop
    start_redis
    start_postgres
    setup_python
    ;;
stop) stop ;;
*) die "usage: $0 [start|stop]" ;;
esac
