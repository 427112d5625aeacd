#!/usr/bin/env bash
# Soak benchmark (issue #14): months of service, simulated. Each simulated day D gets a fresh
# day-rolling farm (`gen_farm.py --day D`: every item is new, dates move D days on), served on
# 127.0.0.1 by the shared nginx setup, and one `feedwatch poll --once` under libfaketime with
# the clock at START + D days (+ D minutes), so wall-clock retention (seen keys, recent texts)
# applies. Same database all along. Per poll it records data on disk, peak RSS, CPU, start-up
# time and the row counts, prints one row per simulated month and the checks of issue #14.
#
#   benches/soak.sh                                  # 200 feeds x 50 items, days 0..120
#   FEEDS=1000 DAYS=365 STRIDE=3 benches/soak.sh     # 1,000 feeds, a year, a poll every 3rd day
#
# Settings (environment):
#   FEEDS (200)  ITEMS (50, items per feed per day)  DAYS (120, last simulated day)
#   STRIDE (1: a poll every simulated day; N: days 0, N, 2N, ... - items of the days between
#           are never served, as for a user who polls every N days)
#   KEYWORD_RATE (0), DECOY_RATE (0): gen_farm rates; 0 = nothing kept as an article
#   BIN (target/release/feedwatch, built with `cargo build --release --locked` if missing)
#   RULES (config/rules.toml, the shipped pack)   START ("2024-06-01 12:00:00", UTC: gen_farm's
#           day 0). Day D's poll runs with the clock at START + D days + D minutes (see poll());
#           the farm's newest item of day D is dated START + D days minus 0-10 h, its oldest
#           up to ~8 days before)
#   PORT (18471)  OUT (/tmp/feedwatch-soak/<timestamp>)  WORK (a mktemp dir in /tmp, deleted)
#   PREGEN (1: write day D+STRIDE's farm while day D's poll runs, started only once the poll
#           has sent its first request, so start-up is measured without the generator; the
#           poll's CPU time is its own, its wall time shares the cores with it; 0: sequential)
#   GZIP_STATIC (0: nginx gzips on the fly; 1: gen_farm writes .gz copies, slower to generate)
#
# Start-up time = from exec of `poll --once` to the first feed request reaching nginx (its
# access-log time, real clock): config load, database lock, open and `quick_check`, feed sync,
# alert-log reconcile, pipeline and writer start (before #14's fix also loading every seen key). It is
# wall-clock time, so it carries the machine's load (see the load average in env.txt).
# Needs python3, nginx (nginx-light), GNU time, sqlite3, curl, libfaketime. Loopback only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The shared bench: ../shared beside the clone (or beside its worktree folder), or FEEDWATCH_SHARED_DIR.
SHARED=${FEEDWATCH_SHARED_DIR:-}
if [[ -z $SHARED ]]; then
    for s in "$ROOT/../shared" "$ROOT/../../shared"; do [[ -d $s/bench ]] && { SHARED=$(cd "$s" && pwd); break; }; done
fi
BENCH=${BENCH:-$SHARED/bench}
FEEDS=${FEEDS:-200}
ITEMS=${ITEMS:-50}
DAYS=${DAYS:-120}
STRIDE=${STRIDE:-1}
KEYWORD_RATE=${KEYWORD_RATE:-0}
DECOY_RATE=${DECOY_RATE:-0}
BIN=${BIN:-$ROOT/target/release/feedwatch}
RULES=$(realpath "${RULES:-$ROOT/config/rules.toml}")
START=${START:-2024-06-01 12:00:00}
PORT=${PORT:-18471}
PREGEN=${PREGEN:-1}
GZIP_STATIC=${GZIP_STATIC:-0}
OUT=${OUT:-/tmp/feedwatch-soak/$(date -u +%Y%m%d-%H%M%S)-f$FEEDS}
LIBFAKETIME=${LIBFAKETIME:-/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1}

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { echo "soak: $*" >&2; exit 1; }

for tool in python3 sqlite3 curl /usr/bin/time /usr/sbin/nginx "$LIBFAKETIME" "$BENCH/gen_farm.py"; do
    [[ -e $tool ]] || command -v "$tool" >/dev/null || die "missing $tool (apt-get install nginx-light time sqlite3 curl faketime)"
done
((STRIDE >= 1 && DAYS >= 0 && FEEDS >= 1 && ITEMS >= 1)) || die "bad FEEDS/ITEMS/DAYS/STRIDE"
start_epoch=$(date -u -d "$START" +%s) || die "bad START '$START'"
if [[ ! -x $BIN ]]; then
    log "building $BIN (cargo build --release --locked)"
    (cd "$ROOT" && cargo build --release --locked) >&2
fi
[[ -x $BIN ]] || die "no binary at $BIN"

WORK=${WORK:-$(mktemp -d /tmp/feedwatch-soak-work.XXXXXX)}
mkdir -p "$OUT/raw" "$WORK/state"
chmod 755 "$WORK"   # nginx workers run as nobody: they must reach the farm
export FARM="$WORK/farm" RUNDIR="$WORK/nginx" PORT WORKERS=1
GEN_PID=
POLL_PID=
SERVING=0
cleanup() {
    if [[ -n $POLL_PID ]]; then pkill -TERM -P "$POLL_PID" 2>/dev/null || true; kill "$POLL_PID" 2>/dev/null || true; wait "$POLL_PID" 2>/dev/null || true; fi
    if [[ -n $GEN_PID ]]; then pkill -TERM -P "$GEN_PID" 2>/dev/null || true; kill "$GEN_PID" 2>/dev/null || true; wait "$GEN_PID" 2>/dev/null || true; fi
    if [[ $SERVING == 1 ]]; then "$BENCH/serve_farm.sh" stop >&2 || true; fi
    if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# gen DAY: writes that day's farm into $WORK/farm.<parity> (gen_farm deletes a previous one).
gen_dir() { echo "$WORK/farm.$(( ($1 / STRIDE) % 2 ))"; }
gen() {
    local extra=()
    [[ $GZIP_STATIC == 1 ]] || extra+=(--no-gzip-static)
    python3 "$BENCH/gen_farm.py" --out "$(gen_dir "$1")" --feeds "$FEEDS" --items "$ITEMS" --day "$1" \
        --keyword-rate "$KEYWORD_RATE" --decoy-rate "$DECOY_RATE" --port "$PORT" "${extra[@]}" >/dev/null
}

# The config: the shipped rule pack and shipped defaults for everything but what the loopback
# farm needs (as ../shared/bench/run_peers.sh writes it).
cfg="$WORK/state/feedwatch.toml"
gen 0
ln -sfn "$(gen_dir 0)" "$FARM"
{
    echo "rule_files = [\"$RULES\"]"
    printf '\n[storage]\ndatabase = "%s/feedwatch.db"\n' "$WORK/state"
    printf '\n[alerts]\nlog = "%s/alerts.jsonl"\n' "$WORK/state"
    printf '\n[fetch]\nuser_agent = "feedwatch-soak"\nallow_private_addresses = true\n'
    while read -r u; do printf '\n[[feeds]]\nurl = "%s"\nfull_text = false\n' "$u"; done <"$FARM/urls.txt"
} >"$cfg"
db="$WORK/state/feedwatch.db"
SERVING=1   # before start: a start that fails after nginx daemonized still stops it on exit
"$BENCH/serve_farm.sh" start >&2
ACCESS="$RUNDIR/access.log"

{
    echo "date: $(date -u -Is)"
    echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/{printf "%.1f GiB", $2/1024/1024}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "binary: $BIN ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo "settings: FEEDS=$FEEDS ITEMS=$ITEMS DAYS=$DAYS STRIDE=$STRIDE KEYWORD_RATE=$KEYWORD_RATE DECOY_RATE=$DECOY_RATE PREGEN=$PREGEN GZIP_STATIC=$GZIP_STATIC START='$START' RULES=$RULES"
} | tee "$OUT/env.txt" >&2

TSV="$OUT/days.tsv"
printf 'day\tfake_date\trc\tfeeds_200\tdisk_bytes\tdb_bytes\twal_bytes\tshm_bytes\tfree_pages\tpage_size\tseen_rows\trecent_rows\tarticles\tpeak_rss_kb\tuser_s\tsys_s\tcpu_s\twall_s\tstartup_s\tgen_s\n' >"$TSV"

# poll DAY: one measured `poll --once` with the clock at START + DAY days + DAY minutes;
# appends a TSV row. The minute a day keeps retention boundaries off the polls: with polls
# exactly 24 h apart, a retention of whole days ends on the very seconds the items of day
# D - N were recorded, and whether the poll of day D drops them would depend on which of two
# polls ran a few seconds further into its run (the kept count would flicker by a day's worth).
poll() {
    local d=$1 fake=$((start_epoch + $1 * 86400 + $1 * 60)) tag t0 first pid rc=0 startup
    tag=$(printf 'day%04d' "$d")
    sync
    : >"$ACCESS"
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$OUT/raw/$tag.time" env TZ=UTC LD_PRELOAD="$LIBFAKETIME" FAKETIME_FMT=%s \
        FAKETIME="@$fake" FAKETIME_DONT_FAKE_MONOTONIC=1 "$BIN" --config "$cfg" poll --once \
        >"$OUT/raw/$tag.out" 2>"$OUT/raw/$tag.err" &
    pid=$!
    POLL_PID=$pid
    # Start-up ends at the first request; only then may the next day's farm be generated.
    while [[ ! -s $ACCESS ]] && kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
    local next=$((d + STRIDE)) gen_t0
    if [[ $PREGEN == 1 ]] && ((next <= DAYS)); then
        gen_t0=$(date +%s.%N)
        ( gen "$next"; echo "$gen_t0 $(date +%s.%N)" >"$WORK/gen.done" ) &
        GEN_PID=$!
    fi
    wait "$pid" || rc=$?
    POLL_PID=
    first=$(awk 'NR == 1 || $1 < m { m = $1 } END { print m }' "$ACCESS")
    startup=$(awk -v a="$t0" -v b="${first:-0}" 'BEGIN { printf "%.3f", (b > 0 ? b - a : -1) }')
    local feeds200 disk dbb walb shmb
    feeds200=$(awk '$2 == 200' "$ACCESS" | wc -l)
    dbb=$(stat -c %s "$db"); walb=$(stat -c %s "$db-wal" 2>/dev/null || echo 0)
    shmb=$(stat -c %s "$db-shm" 2>/dev/null || echo 0)
    disk=$((dbb + walb + shmb))
    local free psize seen recent arts
    read -r free psize seen recent arts < <(sqlite3 -separator ' ' "$db" \
        "SELECT (SELECT freelist_count FROM pragma_freelist_count), (SELECT page_size FROM pragma_page_size),
                (SELECT count(*) FROM seen_items) + (SELECT count(*) FROM seen_staged s WHERE NOT EXISTS (SELECT 1 FROM seen_items i WHERE i.key = s.key)),
                (SELECT count(*) FROM recent_items), (SELECT count(*) FROM articles)")
    local rss user sys wall
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$OUT/raw/$tag.time")
    user=$(awk -F': ' '/User time/ { print $2 }' "$OUT/raw/$tag.time")
    sys=$(awk -F': ' '/System time/ { print $2 }' "$OUT/raw/$tag.time")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$OUT/raw/$tag.time")
    local gen_s=0
    if [[ -n $GEN_PID ]]; then
        wait "$GEN_PID" || die "gen_farm failed for day $next"
        GEN_PID=
        gen_s=$(awk '{ printf "%.2f", $2 - $1 }' "$WORK/gen.done")
    fi
    printf '%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%.2f\t%s\t%s\t%s\n' \
        "$d" "$(date -u -d "@$fake" +%F)" "$rc" "$feeds200" "$disk" "$dbb" "$walb" "$shmb" "$free" "$psize" \
        "$seen" "$recent" "$arts" "$rss" "$user" "$sys" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" \
        "$wall" "$startup" "$gen_s" >>"$TSV"
    ((rc == 0)) || log "day $d: poll exited $rc (see $OUT/raw/$tag.err)"
    # Only the log of a failed poll and of month days is worth keeping.
    if ((rc == 0 && d % 30 != 0)); then rm -f "$OUT/raw/$tag.out" "$OUT/raw/$tag.err"; fi
    if ((d % 30 == 0)); then
        sqlite3 -separator $'\t' "$db" "SELECT name, count(*), sum(pgsize) FROM dbstat GROUP BY name ORDER BY 3 DESC" \
            >"$OUT/raw/$tag.tables.tsv" 2>/dev/null || true
    fi
}

t_start=$(date +%s)
for ((d = 0; d <= DAYS; d += STRIDE)); do
    if [[ $PREGEN != 1 ]] && ((d > 0)); then gen "$d"; fi
    ln -sfn "$(gen_dir "$d")" "$FARM"
    poll "$d"
    if ((d % 30 == 0)); then
        log "day $d: $(tail -n 1 "$TSV" | awk -F'\t' '{ printf "disk %.1f MB, seen %d, RSS %.1f MB, CPU %ss, start-up %ss, wall %ss", $5/1e6, $11, $14/1024, $17, $19, $18 }') ($(( $(date +%s) - t_start ))s so far)"
    fi
done
log "$(( ($(date +%s) - t_start) )) s for $(( DAYS / STRIDE + 1 )) polls"

# Per month: the day that is a multiple of 30 (or the nearest sampled day at or before it).
python3 - "$TSV" "$STRIDE" "$FEEDS" "$ITEMS" <<'EOF' | tee "$OUT/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
stride, feeds, items = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
by_day = {int(r["day"]): r for r in rows}
last = max(by_day)
def at(d):
    c = [x for x in by_day if x <= d]
    return by_day[max(c)] if c else None
def window(d, col, n=5):
    """Median of `col` over the n sampled polls ending at day d (one poll is a noisy sample)."""
    ds = sorted(x for x in by_day if x <= d)[-n:]
    return statistics.median(float(by_day[x][col]) for x in ds)
months = sorted(set(list(range(0, last + 1, 30)) + [last]))
print("feeds=%d items/feed/day=%d stride=%d polls=%d; failed polls: %d" % (
    feeds, items, stride, len(rows), sum(1 for r in rows if r["rc"] != "0")))
hdr = ("day", "fake date", "disk MB", "free MB", "seen keys", "recent texts", "peak RSS MB", "CPU s", "CPU s med5", "start-up s", "start-up med5", "poll wall s")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for m in months:
    r = at(m)
    d = int(r["day"])
    print("| %d | %s | %.1f | %.1f | %s | %s | %.1f | %.2f | %.2f | %.3f | %.3f | %.2f |" % (
        d, r["fake_date"], int(r["disk_bytes"]) / 1e6, int(r["free_pages"]) * int(r["page_size"]) / 1e6,
        f'{int(r["seen_rows"]):,}', f'{int(r["recent_rows"]):,}', int(r["peak_rss_kb"]) / 1024,
        float(r["cpu_s"]), window(d, "cpu_s"), float(r["startup_s"]), window(d, "startup_s"),
        float(r["wall_s"])))
def check(name, a_day, b_day, col, lo, hi, scale=1.0):
    if a_day > last or b_day > last:
        print("%s: n/a (needs day %d)" % (name, b_day)); return
    a, b = float(at(a_day)[col]), float(at(b_day)[col])
    aw, bw = window(a_day, col), window(b_day, col)
    verdict = lambda x: "PASS" if lo <= x <= hi else "FAIL"
    limit = "within ±%d%%" % round((hi - 1) * 100) if lo > 0 else "≤ %.2f×" % hi
    print("%s (%s): day %d %.2f / day %d %.2f = %.3f %s; 5-poll medians %.2f / %.2f = %.3f %s" % (
        name, limit, b_day, b * scale, a_day, a * scale, b / a, verdict(b / a),
        bw * scale, aw * scale, bw / aw, verdict(bw / aw)))
print()
check("data on disk MB, day 120 vs day 60", 60, 120, "disk_bytes", 0.9, 1.1, 1e-6)
check("peak RSS MB, day 120 vs day 60", 60, 120, "peak_rss_kb", 0.9, 1.1, 1 / 1024)
check("CPU s of a poll, day 120 vs day 30", 30, 120, "cpu_s", 0, 1.25)
EOF
log "raw per-day figures: $TSV"
