#!/usr/bin/env bash
# Three `feedwatch run` instances sharing one PostgreSQL database over the loopback feed farm
# (issue #15): starts a throwaway PostgreSQL and the farm's nginx, runs the three from an empty
# database until every feed has been polled once, stops them with SIGTERM, and prints how the
# feeds were shared, whether any was polled twice, and whether the alerts are exactly once and
# exactly the farm's ground truth. A benchmark that prints figures: it asserts nothing.
#
#   benches/pg_farm.sh [path/to/feedwatch]          # default target/debug/feedwatch (built if missing)
#   FEEDS=200 TIMEOUT=300 KEEP=1 benches/pg_farm.sh  # smaller farm; keep the work folder
#   CHECK=1 benches/pg_farm.sh                     # also exit 1 unless the issue's checks hold
#
# With CHECK=1 (CI runs it so) the figures become the acceptance checks of issue #15: every
# feed polled, each fetched exactly once, shares within +-25% of the mean, every instance
# exiting 0 on SIGTERM, every alert in exactly one log, and the alerted items exactly the
# farm's ground truth.
#
# Needs python3, nginx, curl, psql and the PostgreSQL server (see scripts/pg-throwaway.sh).
# Environment: FEEDS (1000), TIMEOUT (600 s for the cycle), RULES (config/rules.toml),
# FEEDWATCH_SHARED_DIR (the shared folder holding bench/; default ../shared beside the repo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
feeds=${FEEDS:-1000}
limit=${TIMEOUT:-600}
rules=$(realpath "${RULES:-$root/config/rules.toml}")
bin=${1:-$root/target/debug/feedwatch}
if [[ ! -x $bin && -z ${1:-} ]]; then (cd "$root" && cargo build); fi
bin=$(realpath "$bin")
shared=${FEEDWATCH_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
[[ -f $shared/bench/gen_farm.py ]] || { echo "pg_farm: no bench/gen_farm.py in $shared" >&2; exit 1; }
echo "shared bench folder: $shared"

dir=$(mktemp -d /tmp/pg-farm.XXXXXX)
chmod 0755 "$dir" # as root the server runs as `postgres`, which must reach $dir/pg
export RUNDIR=$dir/nginx FARM=$dir/farm
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PORT
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    "$shared/bench/serve_farm.sh" stop >/dev/null 2>&1 || true
    "$root/scripts/pg-throwaway.sh" stop "$dir/pg" 2>/dev/null || true
    if [[ -n ${KEEP:-} ]]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

eval "$("$root/scripts/pg-throwaway.sh" start "$dir/pg")"
db=$FEEDWATCH_TEST_POSTGRES
# --no-gzip-static: halves the farm's size on disk; nginx gzips on the fly instead.
python3 "$shared/bench/gen_farm.py" --out "$FARM" --feeds "$feeds" --items 50 --port "$PORT" --no-gzip-static
"$shared/bench/serve_farm.sh" start

# One config; the copies differ in the alert log and in the user agent. The agent is the only
# way to tell which instance fetched a feed: no log line names the feed polled, and a lease's
# owner is cleared when the poll ends. nginx logs the agent of every GET.
for i in 1 2 3; do
    {
        echo "rule_files = [\"$rules\"]"
        # The farm's items are dated 2024-06-01: past the default seen_retention (90 days)
        # they would be recorded as seen and never matched, and nothing would alert.
        printf '\n[storage]\ndatabase = "%s"\nseen_retention = "3650d"\n\n[alerts]\nlog = "%s/alerts%s.jsonl"\n' "$db" "$dir" "$i"
        printf '\n[fetch]\nuser_agent = "feedwatch-pgfarm-%s"\ntimeout = "20s"\nallow_private_addresses = true\n' "$i"
        printf '\n[poll]\ninterval = "10m"\n'
        while read -r u; do printf '\n[[feeds]]\nurl = "%s"\nfull_text = false\n' "$u"; done <"$FARM/urls.txt"
    } >"$dir/fw$i.toml"
done
total=$(wc -l <"$FARM/urls.txt")
q() { psql "$db" -XAtq -F ' ' -c "$1"; }
polled() { q "SELECT count(*) FROM feeds WHERE last_poll_at IS NOT NULL AND removed_at IS NULL" 2>/dev/null || echo 0; }

t0=$(date +%s.%N)
for i in 1 2 3; do
    # No JOURNAL_STREAM: the log goes to stderr, where it is counted below.
    env -u JOURNAL_STREAM "$bin" --config "$dir/fw$i.toml" run 2>"$dir/stderr$i" &
    pids+=($!)
done
# Poll the database once a second until every feed has a last poll (or the time is up).
n=0 SECONDS=0
while ((SECONDS < limit)); do
    n=$(polled)
    [[ $n -ge $total ]] && break
    sleep 1
done
t1=$(date +%s.%N)
# CPU time (user + system, all threads) from /proc before the stop, so shutdown is not counted.
tck=$(getconf CLK_TCK)
cpu=()
for p in "${pids[@]}"; do
    read -r -a st < <(sed 's/.*) //' "/proc/$p/stat")
    cpu+=("$(printf '%.2fs user %.2fs sys' "$(bc -l <<<"${st[11]} / $tck")" "$(bc -l <<<"${st[12]} / $tck")")")
done
for p in "${pids[@]}"; do kill -TERM "$p"; done
rcs=()
for p in "${pids[@]}"; do
    rc=0
    wait "$p" || rc=$?
    rcs+=("$rc")
done
pids=()

echo
echo "== $total feeds, 3 instances, $bin"
printf 'cycle: %s of %s feeds polled in %.1fs (limit %ss)\n' "$n" "$total" "$(echo "$t1 - $t0" | bc)" "$limit"
read -r span ok err < <(q "SELECT coalesce(max(last_poll_at) - min(last_poll_at), 0),
    count(*) FILTER (WHERE last_status = 200), count(*) FILTER (WHERE last_error IS NOT NULL) FROM feeds")
echo "database: first to last poll ${span}s; status 200: $ok; with an error: $err"
for i in 1 2 3; do
    # Alerts of high severity are WARN events too: leave them out of the warnings counted.
    grep -v 'ALERT \[' "$dir/stderr$i" | grep -E ' (WARN|ERROR) ' >"$dir/warn$i" || true
    echo "instance $i: CPU ${cpu[i - 1]}; exit status ${rcs[i - 1]}; stderr: $(wc -l <"$dir/warn$i") WARN/ERROR lines, $(grep -c store_commit "$dir/stderr$i" || true) naming store_commit"
    head -n 3 "$dir/warn$i" | cut -c1-240 | sed 's/^/    /'
done
q "SELECT a.id, a.rule, coalesce(ar.url, '') FROM alerts a JOIN articles ar ON ar.id = a.article_id" >"$dir/db_alerts"
undelivered=$(q "SELECT count(*) FROM alerts WHERE delivered_at IS NULL")
echo "alerts not marked delivered (logged) in the database: $undelivered"

# The access log (every GET, with its agent) and the three alert logs, against the manifest.
failed=()
[[ $n -ge $total ]] || failed+=("only $n of $total feeds polled within ${limit}s")
[[ ${rcs[*]} == "0 0 0" ]] || failed+=("exit statuses ${rcs[*]}, not 0 0 0")
[[ $undelivered -eq 0 ]] || failed+=("$undelivered alerts in no log")
rc=0
CHECK=${CHECK:-} python3 - "$RUNDIR/access.log" "$FARM/manifest.json" "$dir/db_alerts" "$dir"/alerts{1,2,3}.jsonl <<'EOF' || rc=$?
import collections, json, os, re, sys
access, manifest, db_alerts, logs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
problems = []
gets, by = collections.Counter(), collections.defaultdict(set)
for line in open(access):
    m = re.search(r'"feedwatch-pgfarm-(\d)[^"]*" (/feeds/\S+)$', line)
    if m:
        gets[m.group(2)] += 1
        by[m.group(1)].add(m.group(2))
twice = sorted(u for u, c in gets.items() if c > 1)
print("feeds fetched: %d; fetched more than once: %d %s" % (len(gets), len(twice), twice[:5]))
if twice:
    problems.append("%d feeds fetched more than once" % len(twice))
shares = [len(by[str(i)]) for i in (1, 2, 3)]
mean = sum(shares) / 3
within = all(abs(s - mean) <= 0.25 * mean for s in shares)
print("shares (feeds fetched per instance): %s; mean %.1f; within +-25%% of the mean: %s" % (shares, mean, within))
if not within:
    problems.append("shares %s not within +-25%% of the mean" % shares)
rows = [l.split(" ", 2) for l in open(db_alerts).read().splitlines()]
print("alerts in the database: %d (%s)" % (len(rows), dict(collections.Counter(r[1] for r in rows))))
ids = collections.Counter()
for i, path in enumerate(logs, 1):
    lines = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
    print("alert log %d: %d alerts" % (i, len(lines)))
    ids.update(a["id"] for a in lines)
dups = sorted(k for k, c in ids.items() if c > 1)
missing = {int(r[0]) for r in rows} - set(ids)
print("alert ids in two logs: %d %s; in the database but in no log: %d" % (len(dups), dups[:5], len(missing)))
if dups or missing or sum(ids.values()) != len(rows):
    problems.append("alerts not exactly once across the logs")
# The farm's truth is per item (keyword_ids), not per rule: compare the set of alerted items.
truth = {i for f in json.load(open(manifest))["feeds_list"] for i in f["keyword_ids"]}
urn = lambda u: (lambda m: "urn:feedfarm:%s:%s" % m.groups() if m else u)(re.search(r"/articles/([^/]+)/([^/]+)\.html$", u))
alerted = {urn(r[2]) for r in rows}
print("alerted items: %d; ground-truth keyword items: %d; missed: %d %s; not in the truth: %d %s; exact: %s" % (
    len(alerted), len(truth), len(truth - alerted), sorted(truth - alerted)[:3],
    len(alerted - truth), sorted(alerted - truth)[:3], alerted == truth))
if alerted != truth:
    problems.append("alerted items differ from the ground truth")
for p in problems:
    print("CHECK FAILED: " + p)
sys.exit(1 if problems and os.environ.get("CHECK") else 0)
EOF
for f in "${failed[@]}"; do echo "CHECK FAILED: $f"; done
if [[ -n ${CHECK:-} ]]; then
    if [[ $rc -ne 0 || ${#failed[@]} -gt 0 ]]; then exit 1; fi
    echo "CHECK: all of issue #15's farm checks hold"
fi
