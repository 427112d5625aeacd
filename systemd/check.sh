#!/usr/bin/env bash
# Checks the unit files: `systemd-analyze verify` must print nothing, and the offline security
# exposure must be at most 1.5. Verification needs an executable at ExecStart's path, so a
# copy of the unit points at the binary built in target/ (built here if missing).
#
#   systemd/check.sh                 # the units in systemd/
#   systemd/check.sh DIR [BINARY]    # the units in DIR (e.g. unpacked from the .deb), with BINARY
#                                    # standing in for /usr/bin/feedwatch
set -euo pipefail
units="${1:-systemd}"
bin="${2:-}"
[[ -z "$bin" || "$bin" == /* ]] || bin="$(pwd)/$bin"
[[ "$units" == /* ]] || units="$(pwd)/$units"
cd "$(dirname "$0")/.."
max_exposure=1.5
if [[ -z "$bin" ]]; then
    bin="$(pwd)/target/debug/feedwatch"
    [[ -x "$bin" ]] || cargo build --locked --quiet
fi
echo "checking the units in $units"
for unit in feedwatch.service feedwatch-backup.service feedwatch-backup.timer; do
    [[ -f "$units/$unit" ]] || { echo "missing unit: $units/$unit" >&2; exit 1; }
done
grep -q '^ExecStart=/usr/bin/feedwatch ' "$units/feedwatch.service" || {
    echo "feedwatch.service: ExecStart does not run /usr/bin/feedwatch (where the package puts it)" >&2
    exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/bin/feedwatch|$bin|" "$units/feedwatch.service" >"$tmp/feedwatch.service"

out=$(systemd-analyze verify --man=no "$tmp/feedwatch.service" 2>&1 || true)
if [[ -n "$out" ]]; then
    echo "systemd-analyze verify is not clean:" >&2
    echo "$out" >&2
    exit 1
fi
echo "systemd-analyze verify: clean"

# The backup service and its timer (verified together: the timer names the service).
sed "s|/usr/bin/feedwatch|$bin|" "$units/feedwatch-backup.service" >"$tmp/feedwatch-backup.service"
cp "$units/feedwatch-backup.timer" "$tmp/"
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
