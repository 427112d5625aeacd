#!/usr/bin/env bash
# One feedwatch instance on SQLite and on PostgreSQL, side by side in one run (issue #15,
# "Speed"): over one loopback feed farm and one throwaway PostgreSQL server it runs, ROUNDS
# times and alternating, a cold `feedwatch poll --once` on a fresh SQLite file and one on a
# fresh PostgreSQL database, each followed by a warm one (every feed due again, every GET a
# 304). Per run it prints wall and CPU time, alerts, and on PostgreSQL the server's CPU, the
# transactions, statements, rows and WAL per poll. Then, apart from the timed runs: the claim
# query on a copy grown to 10,000 and 100,000 feeds, the round trips of a cold and a warm poll
# (from a database that logs every protocol message), and one cold and warm poll with the
# server restarted with fsync on. Last the medians, the PostgreSQL / SQLite ratio, how many
# feeds one instance and one server could carry at a 10-minute interval, and the top
# statements. A benchmark that prints figures: it asserts nothing (it exits non-zero only
# when setup fails).
#
#   benches/backends.sh [path/to/feedwatch]        # default target/release/feedwatch (built if missing)
#   FEEDS=200 ROUNDS=1 KEEP=1 benches/backends.sh   # smaller farm; keep the work folder
#
# Needs python3, nginx, curl, psql, sqlite3, GNU time and the PostgreSQL server (see
# scripts/pg-throwaway.sh); pg_stat_statements (postgresql-contrib) for the statement counts.
# Environment: FEEDS (1000), ITEMS (50), ROUNDS (3), TIMEOUT (600 s per poll), RULES
# (config/rules.toml), CORES (nproc: cores assumed for the capacity figures), TOP (10
# statements listed), PROBE_SIZES ("1000 10000 100000"), NO_PROBE, NO_TRACE, NO_FSYNC (skip
# those parts), KEEP (keep the work folder), FEEDWATCH_SHARED_DIR (the shared folder holding
# bench/; default ../shared beside the repo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
feeds=${FEEDS:-1000}
items=${ITEMS:-50}
rounds=${ROUNDS:-3}
limit=${TIMEOUT:-600}
cores=${CORES:-$(nproc)}
top=${TOP:-10}
rules=$(realpath "${RULES:-$root/config/rules.toml}")
bin=${1:-$root/target/release/feedwatch}
if [[ ! -x $bin && -z ${1:-} ]]; then (cd "$root" && cargo build --release --locked); fi
bin=$(realpath "$bin")
shared=${FEEDWATCH_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
die() {
    echo "backends: $*" >&2
    exit 1
}
[[ -f $shared/bench/gen_farm.py ]] || die "no bench/gen_farm.py in $shared"
[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) is needed: apt-get install time"
for c in python3 curl psql sqlite3; do command -v "$c" >/dev/null || die "$c is needed"; done

dir=$(mktemp -d /tmp/fw-backends.XXXXXX)
chmod 0755 "$dir" # as root the server runs as `postgres`, which must reach $dir/pg
export RUNDIR=$dir/nginx FARM=$dir/farm
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PORT
cleanup() {
    "$shared/bench/serve_farm.sh" stop >/dev/null 2>&1 || true
    "$root/scripts/pg-throwaway.sh" stop "$dir/pg" 2>/dev/null || true
    if [[ -n ${KEEP:-} ]]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

# pg_stat_statements counts the statements each database ran (one call per statement
# executed, BEGIN and COMMIT included: the client's round trips, give or take pipelining).
# It must be loaded at the server's start; without it the figures fall back to rows touched.
pgss=
if compgen -G "/usr/lib/postgresql/*/lib/pg_stat_statements.so" >/dev/null ||
    { [[ -n ${PG_BINDIR:-} ]] && [[ -f $PG_BINDIR/../lib/pg_stat_statements.so ]]; }; then
    pgss=1
    export PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=10000 -c pg_stat_statements.track=top"
fi
eval "$("$root/scripts/pg-throwaway.sh" start "$dir/pg")"
url=$FEEDWATCH_TEST_POSTGRES
q() { psql "$url" -XAtq -F ' ' -v ON_ERROR_STOP=1 -c "$1"; }
dburl() { echo "${url%/postgres\?*}/$1?sslmode=disable"; } # the same server, database $1
if [[ -n $pgss ]] && ! q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" 2>"$dir/pgss.err"; then
    echo "pg_stat_statements not usable ($(head -n 1 "$dir/pgss.err")): statements not counted"
    pgss=
fi
pm=$(head -n 1 "$dir/pg/data/postmaster.pid")
pgversion=$(q "SHOW server_version")

python3 "$shared/bench/gen_farm.py" --out "$FARM" --feeds "$feeds" --items "$items" --port "$PORT" --no-gzip-static >/dev/null
"$shared/bench/serve_farm.sh" start
total=$(wc -l <"$FARM/urls.txt")

# CPU seconds (user + system) of the PostgreSQL server: the postmaster with its reaped
# children (cutime, cstime: the backends of connections already closed) and every live child.
server_cpu() {
    python3 - "$pm" <<'EOF'
import os, sys
pm, tck, total = sys.argv[1], os.sysconf("SC_CLK_TCK"), 0
def stat(pid):
    s = open("/proc/%s/stat" % pid).read()
    return s[s.rindex(")") + 2:].split()
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        f = stat(pid)
    except OSError:
        continue
    if pid == pm or f[1] == pm:
        total += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
print("%.2f" % (total / tck))
EOF
}
# Per database: transactions (commits + rollbacks), rows inserted, updated, deleted, and the
# statements run (pg_stat_statements' calls; - without it); then the whole server's WAL:
# records, bytes and writes (pg_stat_wal; a commit that wrote writes the WAL out, so with
# fsync on, wal_write is about how many times the server would wait for the disk).
db_counts() {
    local stmts=-
    if [[ -n $pgss ]]; then
        stmts=$(q "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$1')")
    fi
    echo "$(q "SELECT coalesce(sum(xact_commit + xact_rollback), 0), coalesce(sum(tup_inserted), 0),
        coalesce(sum(tup_updated), 0), coalesce(sum(tup_deleted), 0) FROM pg_stat_database WHERE datname = '$1'") $stmts" \
        "$(q "SELECT wal_records, wal_bytes, wal_write FROM pg_stat_wal")"
}
# The statements of one database (queryid, calls, total ms, query), for the top lists.
statements() {
    [[ -n $pgss ]] || return 0
    psql "$url" -XAtq -F $'\t' -c "SELECT queryid, calls, round(total_exec_time::numeric, 1),
        left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$1')"
}

# One config per run: the database, the alert log and the user agent differ (the agent tells
# the runs apart in nginx's access log). [poll] is left at its defaults.
write_config() { # DATABASE NAME
    {
        echo "rule_files = [\"$rules\"]"
        # The farm's items are dated 2024-06-01: past the default seen_retention (90 days)
        # they would be recorded as seen and never matched, and nothing would alert.
        printf '\n[storage]\ndatabase = "%s"\nseen_retention = "3650d"\n\n[alerts]\nlog = "%s/%s.alerts.jsonl"\n' "$1" "$dir" "$2"
        printf '\n[fetch]\nuser_agent = "feedwatch-backends-%s"\ntimeout = "20s"\nallow_private_addresses = true\n' "$2"
        while read -r u; do printf '\n[[feeds]]\nurl = "%s"\nfull_text = false\n' "$u"; done <"$FARM/urls.txt"
    } >"$dir/$2.toml"
}

# Lines in a config's alert log, and its GETs and 304 answers in nginx's access log (by agent).
counts() {
    local log=$dir/$1.alerts.jsonl
    echo "$( ([[ -f $log ]] && cat "$log") | wc -l) $(grep -cF "\"feedwatch-backends-$1" "$RUNDIR/access.log" || true)" \
        "$(grep -F "\"feedwatch-backends-$1" "$RUNDIR/access.log" | awk '$2 == 304' | wc -l)"
}

# Runs one `poll --once` (BACKEND ROUND PASS CONFIG_NAME DATABASE) and appends its record to
# $dir/runs.tsv; prints a line.
measure() {
    local backend=$1 round=$2 pass=$3 name=$4 database=$5 run=$1-r$2-$3
    local srv0=- srv1=- c0="- - - - - - - -" c1="- - - - - - - -" rc=0
    if [[ $backend == postgres* ]]; then
        sleep 1 # the last run's backends have exited and been reaped
        srv0=$(server_cpu)
        c0=$(db_counts "$database")
    fi
    local load alerts0 gets0 n3040
    load=$(cut -d ' ' -f 1 /proc/loadavg)
    read -r alerts0 gets0 n3040 < <(counts "$name")
    env -u JOURNAL_STREAM /usr/bin/time -o "$dir/$run.time" -f '%e %U %S %M' \
        timeout "$limit" "$bin" --config "$dir/$name.toml" poll --once >"$dir/$run.stdout" 2>"$dir/$run.stderr" || rc=$?
    if [[ $backend == postgres* ]]; then
        sleep 1 # the connections' backends exit, flush their statistics and are reaped
        srv1=$(server_cpu)
        c1=$(db_counts "$database")
    fi
    local wall user sys rss
    read -r wall user sys rss < <(tail -n 1 "$dir/$run.time")
    local alerts gets n304 warn
    read -r alerts gets n304 < <(counts "$name")
    alerts=$((alerts - alerts0)) gets=$((gets - gets0)) n304=$((n304 - n3040))
    # Alerts of high severity are WARN events too: leave them out of the warnings counted.
    warn=$( (grep -v 'ALERT \[' "$dir/$run.stderr" || true) | grep -cE ' (WARN|ERROR) ' || true)
    local db_alerts articles ok
    if [[ $backend == sqlite ]]; then
        read -r db_alerts articles ok < <(sqlite3 -separator ' ' "$database" "SELECT (SELECT count(*) FROM alerts),
            (SELECT count(*) FROM articles), (SELECT count(*) FROM feeds WHERE last_status IN (200, 304))")
    else
        read -r db_alerts articles ok < <(psql "$(dburl "$database")" -XAtq -F ' ' -c "SELECT
            (SELECT count(*) FROM alerts), (SELECT count(*) FROM articles),
            (SELECT count(*) FROM feeds WHERE last_status IN (200, 304))")
    fi
    # Per run: backend round pass wall user sys rss_kb exit alerts_log alerts_db articles
    # feeds_ok gets 304s warn load server_cpu0 server_cpu1 counts0(8) counts1(8)
    echo "$backend $round $pass $wall $user $sys $rss $rc $alerts $db_alerts $articles $ok $gets $n304 $warn $load $srv0 $srv1 $c0 $c1" >>"$dir/runs.tsv"
    python3 - "$total" "$dir/runs.tsv" <<'EOF'
import sys
n = int(sys.argv[1])
a = [None] + open(sys.argv[2]).read().splitlines()[-1].split()
b, r, p, wall, user, sys_, rss, rc, al, adb, art, ok, gets, n304, warn, load, s0, s1 = a[1:19]
c0, c1 = a[19:27], a[27:35]
cpu = float(user) + float(sys_)
line = ("%s r%s %s: wall %.2f s; CPU %.2f s (user %s, sys %s) = %.2f ms/feed; peak RSS %d MB; exit %s; "
        "alerts: log %s (this run), db %s (in all); articles %s; feeds 200/304 %s; GETs %s (304: %s); WARN/ERROR lines %s; load %s"
        % (b, r, p, float(wall), cpu, user, sys_, 1000 * cpu / n, int(rss) // 1024, rc, al, adb, art, ok, gets, n304, warn, load))
print(line)
if b.startswith("postgres"):
    srv = float(s1) - float(s0)
    d = [None if x == "-" or y == "-" else int(y) - int(x) for x, y in zip(c0, c1)]
    print("    server: CPU %.2f s = %.2f ms/feed; transactions %d = %.2f/feed; statements %s; rows inserted %d, updated %d, deleted %d (%.1f/feed); "
          "WAL %d records, %.1f MB, %d writes = %.2f/feed"
          % (srv, 1000 * srv / n, d[0], d[0] / n,
             "-" if d[4] is None else "%d = %.2f/feed" % (d[4], d[4] / n), d[1], d[2], d[3], (d[1] + d[2] + d[3]) / n,
             d[5], d[6] / 1e6, d[7], d[7] / n))
EOF
    if ((warn > 0)); then (grep -v 'ALERT \[' "$dir/$run.stderr" || true) | grep -E ' (WARN|ERROR) ' | head -n 3 | cut -c1-240 | sed 's/^/    /'; fi
}

echo "== $total feeds x $items items, $rounds rounds, $bin"
echo "machine: $(nproc) cores; PostgreSQL $pgversion (throwaway: fsync=off, on this machine); pg_stat_statements: $([[ -n $pgss ]] && echo yes || echo no)"
echo "started $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
: >"$dir/runs.tsv"
for r in $(seq 1 "$rounds"); do
    write_config "$dir/sqlite-r$r.db" "sqlite-r$r"
    measure sqlite "$r" cold "sqlite-r$r" "$dir/sqlite-r$r.db"
    measure sqlite "$r" warm "sqlite-r$r" "$dir/sqlite-r$r.db" # poll --once on SQLite polls every feed
    q "CREATE DATABASE fw_r$r"
    write_config "$(dburl "fw_r$r")" "postgres-r$r"
    measure postgres "$r" cold "postgres-r$r" "fw_r$r"
    statements "fw_r$r" >"$dir/stmts-r$r-cold.tsv"
    # poll --once polls every feed again, as on SQLite; the cold run's next poll times are
    # reset anyway, so the warm run's commits write what a due poll writes.
    psql "$(dburl "fw_r$r")" -XAtq -c "UPDATE feeds SET next_poll_at = 0"
    statements "fw_r$r" >"$dir/stmts-r$r-prewarm.tsv"
    measure postgres "$r" warm "postgres-r$r" "fw_r$r"
    statements "fw_r$r" >"$dir/stmts-r$r-warm.tsv"
done
# The claim (the lease query each poll starts with) on more feed rows than the farm has: the
# query as the server recorded it (pg_stat_statements), run in a copy of the last round's
# database grown to N feeds of which 1/600 are claimable (due, for `run`'s claim; not polled
# since the run started, for `poll --once`'s, the one these runs send), in a transaction
# that is rolled back. It shows whether a claim's cost grows with the feeds.
if [[ -n $pgss && -z ${NO_PROBE:-} ]]; then
    claim=$(q "SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'fw_r$rounds')
        AND query LIKE 'WITH due AS%' ORDER BY calls DESC LIMIT 1")
    # pg_stat_statements shows constants as parameters past the ones the code binds, given
    # back here: for `run`'s claim (four bound) coalesce(next_poll_at, 0) and
    # lease_token + 1; for `poll --once`'s (five: the run's start, microseconds, here 2033)
    # the two '-infinity', 1e6 and the 1.
    if [[ $claim == *polled_at* ]]; then
        args="'probe', 2000000000, 60, 16, 2000000000000000, '-infinity', 1e6, '-infinity', 1"
        max='$10'
    else
        args="'probe', 2000000000, 60, 16"
        [[ $claim != *"\$6"* ]] || args+=", 0, 1"
        max='$7'
    fi
    if [[ -n $claim && $claim != *"$max"* ]]; then
        q "CREATE DATABASE fw_probe TEMPLATE fw_r$rounds"
        for size in ${PROBE_SIZES:-1000 10000 100000}; do
            {
                echo "SET client_min_messages = warning;"
                echo "INSERT INTO feeds (url, created_at) SELECT 'http://probe.invalid/' || g, 0 FROM generate_series((SELECT count(*) FROM feeds) + 1, $size) g;"
                echo "UPDATE feeds SET next_poll_at = 2000000000 + id % 600, lease_owner = NULL, lease_expires = NULL;"
                [[ $claim != *polled_at* ]] || echo "UPDATE feeds SET polled_at = CASE WHEN id % 600 = 0 THEN NULL ELSE '2100-01-01'::timestamptz END;"
                echo "VACUUM ANALYZE feeds;"
                echo "BEGIN;"
                echo "INSERT INTO instances (id, hostname, pid, version, started_at, heartbeat_at) VALUES ('probe', 'probe', 0, 'probe', 0, 0);"
                echo "PREPARE claim AS $claim;"
                for _ in 1 2 3; do echo "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) EXECUTE claim($args);"; done
                echo "ROLLBACK;"
            } >"$dir/probe.sql"
            psql "$(dburl fw_probe)" -XAtq -v ON_ERROR_STOP=1 -f "$dir/probe.sql" >"$dir/probe-$size.out"
            ms=$(grep -o 'Execution Time: [0-9.]*' "$dir/probe-$size.out" | tail -n 1 | cut -d ' ' -f 3)
            echo "$size $ms" >>"$dir/probe.tsv"
            printf 'claim on %s feed rows, 1/600 claimable: %s ms (the last of 3; %s)\n' "$size" "$ms" \
                "$(grep -oE '(Seq|Index|Index Only|Bitmap Heap) Scan[a-zA-Z_ ]* on feeds' "$dir/probe-$size.out" | head -n 1)"
        done
    fi
fi

# Round trips, counted apart from the timed runs: in one more database, which logs every
# protocol message it runs (log_min_duration_statement = 0, set on that database only), a
# cold and a warm poll. A statement sent as text is parsed (one round trip: Parse, Describe,
# Sync) and then bound and executed (a second one); a statement prepared once per connection
# and kept skips the parse; BEGIN, COMMIT and the schema's scripts go as simple queries. pg_stat_statements counts
# executions only, and pg_stat_database counts a parse outside a transaction as one.
if [[ -z ${NO_TRACE:-} ]]; then
    q "CREATE DATABASE fw_trace"
    q "ALTER DATABASE fw_trace SET log_min_duration_statement = 0"
    write_config "$(dburl fw_trace)" postgres-trace
    for pass in cold warm; do
        [[ $pass == cold ]] || psql "$(dburl fw_trace)" -XAtq -c "UPDATE feeds SET next_poll_at = 0"
        from=$(wc -l <"$dir/pg/postgres.log")
        env -u JOURNAL_STREAM timeout "$limit" "$bin" --config "$dir/postgres-trace.toml" poll --once >/dev/null 2>"$dir/trace-$pass.stderr" || true
        sleep 1
        tail -n +"$((from + 1))" "$dir/pg/postgres.log" | grep -E 'LOG: +duration: ' >"$dir/trace-$pass.log" || true
        python3 - "$dir/trace-$pass.log" "$total" "$pass" <<'EOF'
import collections, re, sys
n, c = int(sys.argv[2]), collections.Counter()
for line in open(sys.argv[1]):
    m = re.search(r"duration: [0-9.]+ ms +(parse|execute|statement)\b", line)
    if m:
        c[m.group(1)] += 1
trips = c["parse"] + c["execute"] + c["statement"]
print("round trips (%s poll, logged): %d = %.2f per feed: parse %d (%.2f per feed), execute %d (%.2f per feed), "
      "simple query %d (%.2f per feed)" % (sys.argv[3], trips, trips / n, c["parse"], c["parse"] / n,
                                           c["execute"], c["execute"] / n, c["statement"], c["statement"] / n))
EOF
    done
fi
# The throwaway server runs with fsync off. Once more with fsync on (the same server restarted,
# a fresh database), so the cost of waiting for the disk at each commit shows: one cold and one
# warm poll, apart from the medians.
if [[ -z ${NO_FSYNC:-} ]]; then
    "$root/scripts/pg-throwaway.sh" stop "$dir/pg" 2>/dev/null
    eval "$(PG_EXTRA_OPTS="${PG_EXTRA_OPTS:-} -c fsync=on" "$root/scripts/pg-throwaway.sh" start "$dir/pg" 2>/dev/null)"
    url=$FEEDWATCH_TEST_POSTGRES
    pm=$(head -n 1 "$dir/pg/data/postmaster.pid")
    echo "server restarted with fsync = $(q "SHOW fsync"), synchronous_commit = $(q "SHOW synchronous_commit"), wal_sync_method = $(q "SHOW wal_sync_method")"
    q "CREATE DATABASE fw_fsync"
    write_config "$(dburl fw_fsync)" postgres-fsync
    measure postgres-fsync 1 cold postgres-fsync fw_fsync
    psql "$(dburl fw_fsync)" -XAtq -c "UPDATE feeds SET next_poll_at = 0"
    measure postgres-fsync 1 warm postgres-fsync fw_fsync
fi
echo "finished $(date -u '+%Y-%m-%d %H:%M:%S UTC')"

python3 - "$dir/runs.tsv" "$total" "$cores" "$rounds" "$top" "$dir" <<'EOF'
import collections, math, os, statistics, sys
runs, n, cores, rounds, top, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
rows = collections.defaultdict(list)
for line in open(runs):
    f = line.split()
    rec = {"wall": float(f[3]), "cpu": float(f[4]) + float(f[5]), "alerts": int(f[8]), "exit": int(f[7])}
    if f[0].startswith("postgres"):
        c0, c1 = f[18:26], f[26:34]
        rec["srv"] = float(f[17]) - float(f[16])
        rec["xact"] = int(c1[0]) - int(c0[0])
        rec["stmts"] = None if "-" in (c0[4], c1[4]) else int(c1[4]) - int(c0[4])
        rec["walw"] = int(c1[7]) - int(c0[7])
        rec["walb"] = int(c1[6]) - int(c0[6])
    rows[(f[0], f[2])].append(rec)
med = lambda k, key: statistics.median(r[key] for r in rows[k])
print()
print("== summary: medians of %d rounds, %d feeds" % (rounds, n))
for p in ("cold", "warm"):
    s, g = ("sqlite", p), ("postgres", p)
    if not rows[s] or not rows[g]:
        continue
    ws, wg, cs, cg = med(s, "wall"), med(g, "wall"), med(s, "cpu"), med(g, "cpu")
    srv = med(g, "srv")
    print("%s sqlite:   wall %.2f s (%s); CPU %.2f s = %.2f ms/feed; alerts %s"
          % (p, ws, " ".join("%.2f" % r["wall"] for r in rows[s]), cs, 1000 * cs / n, sorted({r["alerts"] for r in rows[s]})))
    print("%s postgres: wall %.2f s (%s); CPU %.2f s = %.2f ms/feed; alerts %s; server CPU %.2f s = %.2f ms/feed"
          % (p, wg, " ".join("%.2f" % r["wall"] for r in rows[g]), cg, 1000 * cg / n, sorted({r["alerts"] for r in rows[g]}), srv, 1000 * srv / n))
    st = [r["stmts"] for r in rows[g] if r["stmts"] is not None]
    print("%s postgres per poll: %.2f transactions, %s statements, %.2f WAL writes, %.1f kB of WAL" % (
        p, med(g, "xact") / n, "%.2f" % (statistics.median(st) / n) if st else "- (no pg_stat_statements)",
        med(g, "walw") / n, med(g, "walb") / n / 1000))
    print("%s ratio postgres / sqlite: wall %.2fx%s; instance CPU %.2fx; instance + server CPU %.2fx"
          % (p, wg / ws, " (acceptance, cold: <= 2x)" if p == "cold" else "", cg / cs, (cg + srv) / cs))
for p in ("cold", "warm"):
    for r in rows[("postgres-fsync", p)]:
        print("%s postgres with fsync on (one run): wall %.2f s = %.2fx the sqlite median; CPU %.2f s; server CPU %.2f s; "
              "%.2f transactions, %.2f WAL writes per poll; alerts %d"
              % (p, r["wall"], r["wall"] / med(("sqlite", p), "wall"), r["cpu"], r["srv"], r["xact"] / n, r["walw"] / n, r["alerts"]))
print()
print("== capacity at a 10-minute interval (600 s), %d cores, CPU-bound (every core busy; fetch and" % cores)
print("   network waits overlap), from the medians above; a cold poll stores 50 new items per feed,")
print("   a warm poll is a 304: real polls lie between the two")
for p in ("cold", "warm"):
    s, g = ("sqlite", p), ("postgres", p)
    if not rows[s] or not rows[g]:
        continue
    for b in ("sqlite", "postgres"):
        c = med((b, p), "cpu") / n
        print("%s: one instance on %-8s %.2f ms CPU/feed -> %8d feeds" % (p, b, 1000 * c, 600 * cores / c))
    srv = med(g, "srv") / n
    x = med(g, "xact") / n
    cap = 600 * cores / srv if srv > 0 else float("inf")
    w = med(g, "walw") / n
    print("%s: one PostgreSQL server    %.2f ms CPU/feed -> %8d feeds; at that load %.0f transactions/s (%.2f per poll),"
          " %.0f WAL writes/s (%.2f per poll: disk flushes with fsync on, fewer with group commit)"
          % (p, 1000 * srv, cap, cap * x / 600, x, cap * w / 600, w))
    both = 600 * cores / (med(g, "cpu") / n + srv)
    print("%s: instance and server sharing %d cores: %d feeds" % (p, cores, both))
    if os.path.exists(d + "/probe.tsv"):
        # One claim per poll; if a claim reads every feed row, its cost k per row (from the
        # largest probe) adds k x N per poll: N x (server CPU per poll + k x N) = 600 s x cores.
        size, ms = [(int(a), float(b)) for a, b in (l.split() for l in open(d + "/probe.tsv"))][-1]
        k = ms / 1000 / size
        grown = (-srv + math.sqrt(srv * srv + 4 * k * 600 * cores)) / (2 * k)
        print("%s: one PostgreSQL server, with the claim growing as measured (%.3f ms on %d rows: %.3f us per feed row, "
              "one claim per poll): %d feeds" % (p, ms, size, 1e6 * k, grown))
    print("%s: at the pace measured here (600 s x %d feeds / median wall, this machine's cores shared by the instance,"
          " the server and nginx): sqlite %d feeds, postgres %d feeds" % (p, n, 600 * n / med(s, "wall"), 600 * n / med(g, "wall")))

# The statements of the last round, by calls (cold: the whole cold run, schema and feed
# sync included; warm: what the warm run added).
def load(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            f = line.rstrip("\n").split("\t")
            if len(f) == 4:
                out[f[0]] = (int(f[1]), float(f[2]), f[3])
    return out
cold, pre, warm = (load("%s/stmts-r%d-%s.tsv" % (d, rounds, x)) for x in ("cold", "prewarm", "warm"))
if cold:
    for name, st in (("cold", cold), ("warm", {k: (v[0] - pre.get(k, (0, 0.0))[0], v[1] - pre.get(k, (0, 0.0))[1], v[2]) for k, v in warm.items()})):
        # Leave out this script's own statements (the counts after a run, the reset to due).
        st = {k: v for k, v in st.items() if v[0] > 0 and not v[2].startswith(("SELECT (SELECT count(*) FROM alerts)", "UPDATE feeds SET next_poll_at = $1"))}
        calls = sum(v[0] for v in st.values())
        ms = sum(v[1] for v in st.values())
        print()
        print("== top %d statements of the %s run of round %d, by calls (all: %d calls, %.0f ms executing)" % (top, name, rounds, calls, ms))
        print("%8s %8s %9s  %s" % ("calls", "per feed", "total ms", "statement"))
        for k, v in sorted(st.items(), key=lambda kv: -kv[1][0])[:top]:
            print("%8d %8.2f %9.1f  %s" % (v[0], v[0] / n, v[1], v[2]))
        print("-- by total time:")
        for k, v in sorted(st.items(), key=lambda kv: -kv[1][1])[:5]:
            print("%8d %8.2f %9.1f  %s" % (v[0], v[0] / n, v[1], v[2]))
EOF
