#!/usr/bin/env bash
# A throwaway PostgreSQL server for feedwatch's tests, for developers and CI alike.
#
#   eval "$(scripts/pg-throwaway.sh start /tmp/fw-pg)"   # starts it, exports FEEDWATCH_TEST_POSTGRES
#   cargo test --test pg_store --test pg_coord --test pg_poll --test pg_search
#   scripts/pg-throwaway.sh stop /tmp/fw-pg              # stops it (the folder is left to you)
#   scripts/pg-throwaway.sh restart /tmp/fw-pg 3         # stops it, waits 3 s, starts it on the same port
#
# `start DIR` creates a cluster in DIR (data/, sock/, postgres.log), listening on 127.0.0.1
# at a free port and on a unix socket inside DIR only (never the system's socket folder). TCP
# connections need the superuser's random password (DIR/password, in the URL); the socket
# trusts local users. It is for tests, reachable only from this machine. It prints
# `export FEEDWATCH_TEST_POSTGRES='postgresql://...'` on stdout (messages go to stderr), so
# `eval` picks the URL up. Both commands are idempotent: `start` on a running cluster prints
# its URL again, `stop` on a stopped or missing one does nothing.
#
# PostgreSQL refuses to run as root; as root the server runs as the `postgres` user (via
# runuser) and DIR is handed to that user, so DIR's parent folders must be searchable by it.
# The server binaries are looked up in $PG_BINDIR, then PATH, then /usr/lib/postgresql/*/bin.
# $PG_EXTRA_OPTS, when set, is appended to the server's options at `start` (for example
# `-c shared_preload_libraries=pg_stat_statements`, as benches/backends.sh does).
set -euo pipefail

die() {
    echo "pg-throwaway: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start DIR | stop DIR | restart DIR [PAUSE_SECONDS]" >&2
    exit 2
}

# The folder holding initdb, pg_ctl and postgres, or a clear error naming what to install.
find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        [[ -x "$PG_BINDIR/pg_ctl" ]] || die "PG_BINDIR=$PG_BINDIR has no pg_ctl"
        echo "$PG_BINDIR"
        return
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return
    fi
    local d
    # Highest installed major version first.
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4nr); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            echo "$d"
            return
        fi
    done
    die "PostgreSQL server programs (initdb, pg_ctl) not found: install the server (Debian/Ubuntu: apt-get install postgresql) or set PG_BINDIR to the folder holding them"
}

# Runs a server program as the postgres user when we are root (the server refuses root).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root, but there is no 'postgres' user to run the server as"
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A TCP port nothing listens on now (the kernel's pick; python3 when present, else a probe).
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
        return
    fi
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free TCP port found"
}

print_url() {
    local port user=postgres
    port=$(cat "$1/port")
    # Clusters made by older versions of this script trust every connection: no password.
    if [[ -f "$1/password" ]]; then
        user="postgres:$(cat "$1/password")"
    fi
    echo "export FEEDWATCH_TEST_POSTGRES='postgresql://$user@127.0.0.1:$port/postgres?sslmode=disable'"
}

running() {
    [[ -f "$1/data/PG_VERSION" ]] && as_owner "$bindir/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

start() {
    local dir=$1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if running "$dir"; then
        echo "pg-throwaway: already running in $dir" >&2
        print_url "$dir"
        return
    fi
    if [[ $(id -u) -eq 0 ]]; then
        as_owner true
        chown postgres: "$dir"
        as_owner test -x "$dir" || die "the postgres user cannot reach $dir: make its parent folders searchable (chmod o+x) or pick another DIR"
    fi
    chmod 0755 "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        # TCP connections authenticate with a password (SCRAM), as a real server would, so
        # the tests' credential paths are exercised; the unix socket in DIR trusts its users.
        # The password is random, alphanumeric (no URL escaping), private to its owner.
        (umask 077 && head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 >"$dir/password")
        [[ $(id -u) -ne 0 ]] || chown postgres: "$dir/password"
        as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 --pwfile="$dir/password" --no-sync >"$dir/initdb.log" 2>&1 ||
            die "initdb failed; see $dir/initdb.log"
    fi
    as_owner mkdir -p "$dir/sock"
    local port attempt
    # A free port can be taken between picking it and the server binding it: try three.
    for attempt in 1 2 3; do
        port=$(free_port)
        echo "$port" >"$dir/port"
        if launch "$dir" "$port"; then
            break
        fi
        [[ $attempt -lt 3 ]] || die "the server did not start; see $dir/postgres.log"
    done
    echo "pg-throwaway: running in $dir on 127.0.0.1:$port and $dir/sock" >&2
    print_url "$dir"
}

# Starts the cluster in $1 on port $2 and waits until it accepts connections.
launch() {
    # fsync off: a throwaway cluster need not survive a power cut, and tests run faster.
    as_owner "$bindir/pg_ctl" -D "$1/data" -l "$1/postgres.log" -w -t 60 \
        -o "-p $2 -k $1/sock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200${PG_EXTRA_OPTS:+ $PG_EXTRA_OPTS}" \
        start >&2
}

# A server restart as clients see one (the failover tests): every connection dropped, the
# port refusing for $2 seconds (default 2), then the same cluster back on the same port.
restart() {
    local dir=$1 pause=${2:-2}
    running "$dir" || die "nothing running in $dir to restart"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    sleep "$pause"
    launch "$dir" "$(cat "$dir/port")" || die "the server did not start again; see $dir/postgres.log"
    echo "pg-throwaway: restarted in $dir on 127.0.0.1:$(cat "$dir/port")" >&2
}

stop() {
    local dir=$1
    if [[ ! -d "$dir" ]] || ! running "$dir"; then
        echo "pg-throwaway: nothing running in $dir" >&2
        return
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2
}

[[ $# -eq 2 || ($# -eq 3 && $1 == restart) ]] || usage
bindir=$(find_bindir)
case "$1" in
start) start "$2" ;;
stop) stop "$2" ;;
restart) restart "$2" "${3:-2}" ;;
*) usage ;;
esac
