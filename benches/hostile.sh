#!/usr/bin/env bash
# Hostile inputs (issue 11, rows 1 and 2) against the release binary: generates each input,
# serves it on 127.0.0.1, runs `feedwatch poll --once` on a fresh database per input and
# prints its wall time, CPU seconds (user + system) and peak RSS.
#
#   cargo build --release && benches/hostile.sh [path/to/feedwatch]
#
# Each run is stopped after LIMIT seconds (default 300; "stopped" in the last column). ONLY, a
# space-separated list of input names, runs a subset.
#
# Needs python3 (generates the inputs and serves them), sqlite3, and GNU time at /usr/bin/time
# (Debian/Ubuntu: `apt-get install -y time`). Loopback only; nothing leaves the machine.
# The issue's target: no input above 200 MB of RSS or 10 s of CPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/release/feedwatch}
[ -x "$bin" ] || { echo "no binary at $bin (cargo build --release)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
dir=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/www"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

# The inputs. Article text is our own words; every feed has one item that matches the shipped
# rules, so a run that keeps working also raises an alert.
python3 - "$dir/www" "$base" <<'EOF'
import sys, html
out, base = sys.argv[1], sys.argv[2]
story = ("Rockets struck the Green Zone in Baghdad late on Sunday, officials said, and sirens "
         "sounded across the district as the embassy's air defences were activated.")
def item(link, content=None):
    c = f"<content:encoded>{html.escape(content)}</content:encoded>" if content else ""
    return (f"<item><title>Rockets hit the Green Zone in Baghdad</title><link>{link}</link>"
            f"<guid>{link}</guid><description>{html.escape(story)}</description>{c}</item>")
def rss(items):
    return ('<?xml version="1.0"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>H</title>'
            + items + "</channel></rss>")
def write(name, text):
    with open(f"{out}/{name}", "w") as f:
        f.write(text)
write("rss-1.45M-items.xml", rss(item("http://h.invalid/1") + "<item/>" * 1_450_000))
write("atom-1.3M-entries.xml", '<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
      '<entry><id>urn:h:1</id><title>Rockets hit the Green Zone in Baghdad</title>'
      f'<summary>{html.escape(story)}</summary></entry>' + "<entry/>" * 1_300_000 + "</feed>")
write("json-3M-items.json", '{"version":"https://jsonfeed.org/version/1.1","title":"J","items":['
      '{"id":"1","title":"Rockets hit the Green Zone in Baghdad","content_text":"' + story + '"}'
      + ",{}" * 3_000_000 + "]}")
write("rss-900k-categories.xml", rss(item("http://h.invalid/c").replace(
      "</item>", "<category/>" * 900_000 + "</item>")))
for n in (200_000,):
    deep = "<div>" * n + f"<p>{story}</p>" + "</div>" * n
    write(f"rss-content-{n // 1000}k-divs.xml", rss(item(f"http://h.invalid/d{n}", deep)))
for n in (100_000, 200_000):
    page = ("<!doctype html><html><head><title>Deep</title></head><body>" + "<div>" * n
            + f"<p>{story}</p>" * 3 + "</div>" * n + "</body></html>")
    write(f"page-{n // 1000}k-divs.html", page)
    write(f"rss-page-{n // 1000}k-divs.xml", rss(item(f"{base}/page-{n // 1000}k-divs.html")))
# Nesting that only html5ever's adoption agency builds: `</b>` with a block inside keeps the
# block open, so each round nests one level deeper.
page = "<!doctype html><html><body>" + "<b><div></b>" * 100_000 + f"<p>{story}</p>" * 3 + "</body></html>"
write("page-100k-adoption.html", page)
write("rss-page-100k-adoption.xml", rss(item(f"{base}/page-100k-adoption.html")))
EOF

python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir/www" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do
    python3 -c "import urllib.request; urllib.request.urlopen('$base/')" 2>/dev/null && break
    sleep 0.1
done

printf '%-28s %9s %8s %9s %6s %7s  %s\n' input "size MB" "wall s" "CPU s" "RSS MB" alerts "text from"
for file in rss-1.45M-items.xml atom-1.3M-entries.xml json-3M-items.json \
    rss-900k-categories.xml rss-content-200k-divs.xml rss-page-100k-divs.xml \
    rss-page-200k-divs.xml rss-page-100k-adoption.xml; do
    [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $file "* ]] && continue
    case=$dir/case-${file%.*}
    mkdir -p "$case"
    full_text=false
    case $file in rss-page-*) full_text=true ;; esac
    cat >"$case/feedwatch.toml" <<EOF
rule_files = ["$root/config/rules.toml"]

[storage]
database = "$case/fw.db"

[alerts]
log = "$case/alerts.jsonl"

[fetch]
allow_private_addresses = true

[[feeds]]
url = "$base/$file"
full_text = $full_text
EOF
    /usr/bin/time -o "$case/time" -f "%e %U %S %M" timeout --foreground -s KILL "${LIMIT:-300}" \
        "$bin" --config "$case/feedwatch.toml" poll --once >"$case/stdout" 2>"$case/stderr" || true
    read -r wall user sys rss < <(tail -n 1 "$case/time")
    size=$(stat -c %s "$dir/www/$file")
    alerts=$(cat "$case/alerts.jsonl" 2>/dev/null | grep -c . || true)
    # Where the matched text came from: "page" when the article page was extracted.
    source=$(sqlite3 "$case/fw.db" "SELECT group_concat(DISTINCT body_source) FROM articles" 2>/dev/null || echo "?")
    grep -qE "status 12[45]|status 137|signal" "$case/time" && source="stopped after ${LIMIT:-300}s"
    awk -v f="$file" -v size="$size" -v wall="$wall" -v u="$user" \
        -v s="$sys" -v rss="$rss" -v a="$alerts" -v src="$source" \
        'BEGIN { printf "%-28s %9.1f %8.2f %9.2f %6d %7s  %s\n", f, size / 1048576, wall, u + s, rss / 1024, a, src }'
done
