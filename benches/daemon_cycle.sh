#!/usr/bin/env bash
# First cycle of the daemon (`feedwatch run`, not `poll --once`) over a loopback feed farm:
# starts it on an empty database, stops it with SIGINT after SECONDS, and prints how many
# feeds it polled, over how long, and its CPU time and peak RSS.
#
#   cd ../shared/bench && FARM=/tmp/feedfarm10k ./serve_farm.sh start   # the farm, on 127.0.0.1
#   benches/daemon_cycle.sh /tmp/feedfarm10k/urls.txt 25 [path/to/feedwatch]
#   RULES=config/rules-surface.toml benches/daemon_cycle.sh ...      # another rule pack
#
# Needs sqlite3 and GNU time. Loopback only: the URLs come from the farm's urls.txt.
set -euo pipefail
urls=${1:?usage: daemon_cycle.sh URLS_TXT SECONDS [BIN]}
secs=${2:?usage: daemon_cycle.sh URLS_TXT SECONDS [BIN]}
bin=${3:-$(dirname "$0")/../target/release/feedwatch}
root=$(cd "$(dirname "$0")/.." && pwd)
rules=$(realpath "${RULES:-$root/config/rules.toml}")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
{
    echo "rule_files = [\"$rules\"]"
    printf '\n[storage]\ndatabase = "%s/fw.db"\n\n[alerts]\nlog = "%s/alerts.jsonl"\n' "$dir" "$dir"
    printf '\n[fetch]\nuser_agent = "feedwatch-bench"\ntimeout = "20s"\nallow_private_addresses = true\n'
    printf '\n[poll]\ninterval = "10m"\nconcurrency = 16\n'
    while read -r u; do printf '\n[[feeds]]\nurl = "%s"\nfull_text = false\n' "$u"; done <"$urls"
} >"$dir/feedwatch.toml"
/usr/bin/time -o "$dir/time" -f "%e %U %S %M" \
    timeout -s INT "$secs" "$bin" --config "$dir/feedwatch.toml" run 2>"$dir/stderr" || true
read -r wall user sys rss < <(tail -n 1 "$dir/time")
read -r polled span < <(sqlite3 -separator ' ' "$dir/fw.db" \
    "SELECT count(*), coalesce(max(last_poll_at) - min(last_poll_at), 0) FROM feeds WHERE last_status IS NOT NULL")
total=$(wc -l <"$urls")
echo "feeds polled: $polled of $total within ${span}s (run stopped after ${wall}s)"
echo "CPU: user ${user}s sys ${sys}s; peak RSS $((rss / 1024)) MB"
