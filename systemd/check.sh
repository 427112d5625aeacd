#!/usr/bin/env bash
# Checks the unit files: `systemd-analyze verify` must print nothing, and the offline security
# exposure must be at most 1.5. Verification needs an executable at ExecStart's path, so a
# copy of the unit points at the binary built in target/ (built here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
max_exposure=1.5
bin="$(pwd)/target/debug/feedwatch"
[[ -x "$bin" ]] || cargo build --locked --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/bin/feedwatch|$bin|" systemd/feedwatch.service >"$tmp/feedwatch.service"

out=$(systemd-analyze verify --man=no "$tmp/feedwatch.service" 2>&1 || true)
if [[ -n "$out" ]]; then
    echo "systemd-analyze verify is not clean:" >&2
    echo "$out" >&2
    exit 1
fi
echo "systemd-analyze verify: clean"

# The backup service and its timer (verified together: the timer names the service).
sed "s|/usr/local/bin/feedwatch|$bin|" systemd/feedwatch-backup.service >"$tmp/feedwatch-backup.service"
cp systemd/feedwatch-backup.timer "$tmp/"
out=$(systemd-analyze verify --man=no "$tmp/feedwatch-backup.service" "$tmp/feedwatch-backup.timer" 2>&1 || true)
if [[ -n "$out" ]]; then
    echo "systemd-analyze verify (backup units) is not clean:" >&2
    echo "$out" >&2
    exit 1
fi
echo "systemd-analyze verify (backup service and timer): clean"

level=$(systemd-analyze security --offline=yes "$tmp/feedwatch.service" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [[ -z "$level" ]]; then
    echo "could not read the exposure level" >&2
    exit 1
fi
echo "systemd-analyze security: exposure $level (limit $max_exposure)"
awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l <= m) }' || { echo "exposure $level is above $max_exposure" >&2; exit 1; }
