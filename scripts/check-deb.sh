#!/usr/bin/env bash
# Builds the Debian package (scripts/build-deb.sh) and checks it:
#   1. reproducible: a second build from the same tree gives the same bytes (sha256);
#   2. lintian: no error, and no warning outside the accepted list below;
#   3. contents: exactly the expected files, modes and owners, the expected conffiles, man
#      pages equal to what the packaged binary generates, and completions likewise;
#   4. the packaged units pass systemd/check.sh (verify clean, exposure <= 1.5) with the
#      packaged binary, and the config the package ships resolves the database and alert
#      log into the folders the unit gives the service;
#   5. an install / upgrade / reinstall / remove / purge cycle with dpkg into a scratch root
#      (offline: `dpkg --root --force-script-chrootless`, so the maintainer scripts run with
#      DPKG_ROOT set): files land where the unit expects, nothing is enabled on install, an
#      operator's enable and a local config edit survive an upgrade and a reinstall, remove
#      keeps config and data, purge deletes both.
#
#   scripts/check-deb.sh                 # build, then check
#   scripts/check-deb.sh --no-build      # check the .deb already in target/debian
#
# Needs cargo-deb, lintian, dpkg and systemd-analyze. Exits non-zero on the first failed check,
# saying which.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "check-deb: FAILED: $*" >&2
    exit 1
}
ok() { echo "check-deb: ok: $*"; }

build=1
[[ "${1:-}" == "--no-build" ]] && build=0

# Lintian warnings accepted, each with its reason. Anything else at W: or E: fails.
accepted_warnings=(
    # ours is a local build, not an upload: the changelog names no bug to close, and the
    # distribution field says "unstable" for dpkg's sake only.
    initial-upload-closes-no-bugs
)
# Lintian's I: (info) lines are printed, not judged. Today: spelling-error-in-binary (words in
# dependencies' string tables, e.g. stemmer data); hardening-no-fortify-functions (Rust code,
# and bundled C built by the cc crate without _FORTIFY_SOURCE); no-md5sums-control-file
# (cargo-deb writes none, so `dpkg --verify` cannot check the files);
# package-supports-alternative-init-but-no-init.d-script (systemd only, on purpose).

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- 1. build, twice
if ((build)); then
    scripts/build-deb.sh >"$work/build1.log" 2>&1 || { cat "$work/build1.log" >&2; fail "scripts/build-deb.sh"; }
fi
debs=(target/debian/feedwatch_*.deb)
[[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || fail "expected exactly one target/debian/feedwatch_*.deb, found: ${debs[*]}"
deb="${debs[0]}"
ddebs=(target/debian/feedwatch-dbgsym_*.ddeb)
[[ ${#ddebs[@]} -eq 1 && -f "${ddebs[0]}" ]] || fail "expected exactly one target/debian/feedwatch-dbgsym_*.ddeb"
sha256sum "$deb" "${ddebs[0]}" >"$work/sums1"
sum1=$(sha256sum "$deb" | cut -d' ' -f1)
echo "check-deb: built $deb"
sed 's/^/check-deb: sha256 /' "$work/sums1"
if ((build)); then
    cp "$deb" "$work/first.deb"
    scripts/build-deb.sh >"$work/build2.log" 2>&1 || { cat "$work/build2.log" >&2; fail "second scripts/build-deb.sh"; }
    sha256sum "$deb" "${ddebs[0]}" >"$work/sums2"
    sed 's/^/check-deb: sha256 /; s/$/ (second build)/' "$work/sums2"
    if ! cmp -s "$work/sums1" "$work/sums2"; then
        command -v diffoscope >/dev/null && diffoscope "$work/first.deb" "$deb" | head -50 >&2
        fail "two builds of one tree differ"
    fi
    ok "reproducible (two builds, same sha256 for the .deb and the .ddeb)"
fi

# ---------------------------------------------------------------- 2. lintian
echo "== lintian"
lintian_out=$(lintian --allow-root --tag-display-limit 0 --display-info "$deb" 2>&1) || true
echo "${lintian_out:-(lintian printed nothing)}"
bad=0
while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    case "$line" in
    E:*)
        echo "lintian error: $line" >&2
        bad=1
        ;;
    W:*)
        tag=$(awk '{print $3}' <<<"$line")
        accepted=0
        for a in "${accepted_warnings[@]}"; do [[ "$tag" == "$a" ]] && accepted=1; done
        if ((!accepted)); then
            echo "lintian warning not accepted: $line" >&2
            bad=1
        fi
        ;;
    esac
done <<<"$lintian_out"
((bad == 0)) || fail "lintian"
ok "lintian: no errors, no unaccepted warnings"

# ---------------------------------------------------------------- 3. contents
echo "== contents"
dpkg-deb --contents "$deb" >"$work/contents"
ex="$work/extract"
dpkg-deb -x "$deb" "$ex"
dpkg-deb -e "$deb" "$work/control"

# Every file (not folder) with its mode and owner (uid/gid 0, by number or name); man pages are
# checked apart below.
awk '$1 !~ /^d/ { print $1, $2, $6 }' "$work/contents" | sed 's| root/root | 0/0 |' | grep -v ' \./usr/share/man/man1/' | sort >"$work/files"
exe='-rwxr-xr-x 0/0'
reg='-rw-r--r-- 0/0'
sort >"$work/expected" <<EOF
$reg ./etc/feedwatch/feedwatch.toml
$reg ./etc/feedwatch/models/embassy-security.fwm
$reg ./etc/feedwatch/models/green-zone.fwm
$reg ./etc/feedwatch/rules-surface.toml
$reg ./etc/feedwatch/rules.toml
$reg ./etc/logrotate.d/feedwatch
$reg ./lib/systemd/system/feedwatch-backup.service
$reg ./lib/systemd/system/feedwatch-backup.timer
$reg ./lib/systemd/system/feedwatch.service
$exe ./usr/bin/feedwatch
$reg ./usr/share/bash-completion/completions/feedwatch
$reg ./usr/share/doc/feedwatch/README.md.gz
$reg ./usr/share/doc/feedwatch/changelog.Debian.gz
$reg ./usr/share/doc/feedwatch/copyright
$reg ./usr/share/fish/vendor_completions.d/feedwatch.fish
$reg ./usr/share/zsh/vendor-completions/_feedwatch
EOF
if ! diff -u "$work/expected" "$work/files"; then
    fail "the package's files differ from the expected list (- expected, + in the package)"
fi
ok "file list, modes and owners ($(wc -l <"$work/files") files besides man pages)"

# Conffiles: everything in /etc, nothing else.
sort "$work/control/conffiles" >"$work/conffiles"
printf '%s\n' /etc/feedwatch/feedwatch.toml /etc/feedwatch/rules-surface.toml \
    /etc/feedwatch/rules.toml /etc/feedwatch/models/green-zone.fwm \
    /etc/feedwatch/models/embassy-security.fwm /etc/logrotate.d/feedwatch | sort >"$work/expected-conffiles"
diff -u "$work/expected-conffiles" "$work/conffiles" || fail "conffiles differ from the expected list"
ok "conffiles: $(tr '\n' ' ' <"$work/conffiles")"

# Packaged config and units are the repository's, byte for byte.
for pair in config/feedwatch.toml:etc/feedwatch/feedwatch.toml config/rules.toml:etc/feedwatch/rules.toml \
    config/rules-surface.toml:etc/feedwatch/rules-surface.toml \
    config/models/green-zone.fwm:etc/feedwatch/models/green-zone.fwm \
    config/models/embassy-security.fwm:etc/feedwatch/models/embassy-security.fwm \
    systemd/feedwatch.logrotate:etc/logrotate.d/feedwatch \
    systemd/feedwatch.service:lib/systemd/system/feedwatch.service \
    systemd/feedwatch-backup.service:lib/systemd/system/feedwatch-backup.service \
    systemd/feedwatch-backup.timer:lib/systemd/system/feedwatch-backup.timer; do
    cmp -s "${pair%%:*}" "$ex/${pair#*:}" || fail "/${pair#*:} in the package is not ${pair%%:*}"
done
ok "config, rule packs, logrotate rule and units are the repository's files"

# Man pages: exactly the pages the packaged binary generates, each gzipped, and a page for
# every subcommand (the binary's own list).
bin="$ex/usr/bin/feedwatch"
"$bin" --version >/dev/null || fail "the packaged binary does not run"
"$bin" man "$work/man" >/dev/null
(cd "$work/man" && ls -- *.1) | sed 's/$/.gz/' | sort >"$work/expected-man"
awk '$1 !~ /^d/ { print $6 }' "$work/contents" | sed -n 's|^\./usr/share/man/man1/||p' | sort >"$work/man-pages"
diff -u "$work/expected-man" "$work/man-pages" || fail "man pages in the package differ from the binary's"
grep -qx 'feedwatch.1.gz' "$work/man-pages" || fail "no feedwatch.1.gz"
while read -r page; do
    gzip -dc "$ex/usr/share/man/man1/$page" | cmp -s - "$work/man/${page%.gz}" ||
        fail "usr/share/man/man1/$page is not the gzipped page the binary generates"
done <"$work/man-pages"
for sub in $("$bin" --help | awk '/^Commands:/ {on=1; next} /^$/ {on=0} on && $1 != "help" {print $1}'); do
    grep -qx "feedwatch-$sub.1.gz" "$work/man-pages" || fail "no man page for subcommand $sub"
done
ok "man pages: $(wc -l <"$work/man-pages") (feedwatch.1 and one per subcommand), gzipped, as generated"

for shell_file in bash:usr/share/bash-completion/completions/feedwatch zsh:usr/share/zsh/vendor-completions/_feedwatch \
    fish:usr/share/fish/vendor_completions.d/feedwatch.fish; do
    "$bin" completions "${shell_file%%:*}" | cmp -s - "$ex/${shell_file#*:}" ||
        fail "/${shell_file#*:} is not what \`feedwatch completions ${shell_file%%:*}\` prints"
done
ok "bash, zsh and fish completions are the binary's"

for f in postinst prerm postrm; do
    [[ -x "$work/control/$f" ]] || fail "no executable $f maintainer script"
done

# ---------------------------------------------------------------- 4. the unit as packaged
echo "== the packaged units"
if command -v systemd-analyze >/dev/null 2>&1; then
    bash systemd/check.sh "$ex/lib/systemd/system" "$bin" || fail "systemd/check.sh on the packaged units"
else
    echo "check-deb: systemd-analyze not found: unit verification skipped"
fi

# The unit's folders, read from the unit itself, and its --config path.
unit="$ex/lib/systemd/system/feedwatch.service"
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -n1; }
exec_start=$(unit_value ExecStart)
[[ "$exec_start" == "/usr/bin/feedwatch --config /etc/feedwatch/feedwatch.toml run" ]] ||
    fail "unexpected ExecStart: $exec_start"
state_dir=/var/lib/$(unit_value StateDirectory | awk '{print $1}')
logs_dir=/var/log/$(unit_value LogsDirectory | awk '{print $1}')
[[ "$state_dir" == /var/lib/feedwatch && "$logs_dir" == /var/log/feedwatch ]] ||
    fail "unit folders are $state_dir and $logs_dir, not /var/lib/feedwatch and /var/log/feedwatch"
ok "unit: ExecStart=$exec_start, StateDirectory -> $state_dir, LogsDirectory -> $logs_dir"

# ---------------------------------------------------------------- 5. the dpkg cycle
echo "== install / upgrade / reinstall / remove / purge in a scratch root"
sr="$work/root"
mkdir -p "$sr/var/lib/dpkg/info" "$sr/var/lib/dpkg/updates" "$sr/var/lib/dpkg/triggers"
: >"$sr/var/lib/dpkg/status"
: >"$sr/var/lib/dpkg/available"
# The scratch root has no libc6 to satisfy the package's dependencies; everything else is as
# on a real system, and the maintainer scripts run (chrootless, with DPKG_ROOT=$sr).
dpkg_sr() {
    dpkg --root="$sr" --force-script-chrootless --force-depends --force-unsafe-io \
        --log="$work/dpkg.log" "$@" </dev/null >>"$work/dpkg.out" 2>&1 || {
        cat "$work/dpkg.out" >&2
        fail "dpkg $*"
    }
}
status_of() { dpkg-query --admindir="$sr/var/lib/dpkg" -W -f='${db:Status-Abbrev}' feedwatch 2>/dev/null || true; }
must_exist() { for p; do [[ -e "$sr$p" || -L "$sr$p" ]] || fail "$p is missing in the scratch root ($stage)"; done; }
must_not_exist() { for p; do [[ ! -e "$sr$p" && ! -L "$sr$p" ]] || fail "$p is still there ($stage)"; done; }
wants=/etc/systemd/system/multi-user.target.wants/feedwatch.service
timer_wants=/etc/systemd/system/timers.target.wants/feedwatch-backup.timer

stage=install
dpkg_sr --install "$deb"
[[ "$(status_of)" == "ii " ]] || fail "after install, dpkg status is '$(status_of)'"
must_exist /usr/bin/feedwatch /lib/systemd/system/feedwatch.service /lib/systemd/system/feedwatch-backup.service \
    /lib/systemd/system/feedwatch-backup.timer /etc/feedwatch/feedwatch.toml /etc/feedwatch/rules.toml \
    /etc/feedwatch/rules-surface.toml /etc/feedwatch/models/green-zone.fwm /etc/logrotate.d/feedwatch \
    /usr/share/man/man1/feedwatch.1.gz \
    /usr/share/doc/feedwatch/copyright
must_not_exist "$wants" "$timer_wants" /var/lib/feedwatch /var/log/feedwatch
[[ -x "$sr/usr/bin/feedwatch" ]] || fail "/usr/bin/feedwatch is not executable"
# The installed config, read the way the unit runs it: with systemd's STATE_DIRECTORY and
# LOGS_DIRECTORY (the unit's folders, under the scratch root).
check_out=$(STATE_DIRECTORY="$sr$state_dir" LOGS_DIRECTORY="$sr$logs_dir" \
    "$sr/usr/bin/feedwatch" --config "$sr/etc/feedwatch/feedwatch.toml" config check 2>&1) ||
    fail "config check on the installed default config: $check_out"
echo "check-deb: $check_out"
grep -qF "database $sr$state_dir/feedwatch.db," <<<"$check_out" || fail "the database is not in the unit's StateDirectory"
grep -qF "alert log $sr$logs_dir/alerts.jsonl)" <<<"$check_out" || fail "the alert log is not in the unit's LogsDirectory"
ok "install: files in place, service neither enabled nor started, config resolves into $state_dir and $logs_dir"

# What the operator and the service do next: edit the config, enable the unit, run (systemd
# makes the DynamicUser folders under private/ with a symlink; a database and a log appear).
echo "# local edit: kept across upgrades" >>"$sr/etc/feedwatch/feedwatch.toml"
edited=$(sha256sum <"$sr/etc/feedwatch/feedwatch.toml")
mkdir -p "$sr/etc/systemd/system/multi-user.target.wants"
ln -s /lib/systemd/system/feedwatch.service "$sr$wants"
mkdir -p "$sr/var/lib/private/feedwatch" "$sr/var/log/private/feedwatch"
ln -s private/feedwatch "$sr/var/lib/feedwatch"
ln -s private/feedwatch "$sr/var/log/feedwatch"
echo "database" >"$sr/var/lib/private/feedwatch/feedwatch.db"
echo "{}" >"$sr/var/log/private/feedwatch/alerts.jsonl"

check_kept() {
    [[ "$(sha256sum <"$sr/etc/feedwatch/feedwatch.toml")" == "$edited" ]] || fail "the local config edit was lost ($stage)"
    must_exist /var/lib/feedwatch/feedwatch.db /var/log/feedwatch/alerts.jsonl
}

stage=upgrade
# A newer version of the same package: the .deb unpacked and repacked with "+check1" on its
# version (not `cargo deb` again: it deletes every other feedwatch_*.deb in target/debian).
dpkg-deb -R "$deb" "$work/upgrade"
sed -i 's/^Version: .*/&+check1/' "$work/upgrade/DEBIAN/control"
dpkg-deb --root-owner-group -Zgzip -z1 -b "$work/upgrade" "$work/upgrade.deb" >/dev/null
dpkg_sr --install "$work/upgrade.deb"
new_version=$(dpkg-query --admindir="$sr/var/lib/dpkg" -W -f='${Version}' feedwatch)
[[ "$new_version" == *+check1 ]] || fail "the upgrade did not install (version $new_version)"
check_kept
must_exist "$wants"
ok "upgrade to $new_version: local config edit, database, log and the operator's enable kept"

stage=reinstall
dpkg_sr --install "$work/upgrade.deb"
check_kept
must_exist "$wants" /usr/bin/feedwatch
ok "reinstall: local config edit, database and log kept"

stage=remove
dpkg_sr --remove feedwatch
[[ "$(status_of)" == "rc " ]] || fail "after remove, dpkg status is '$(status_of)' (expected rc: config kept)"
must_not_exist /usr/bin/feedwatch /lib/systemd/system/feedwatch.service /usr/share/man/man1/feedwatch.1.gz
must_exist /etc/feedwatch/rules.toml /etc/feedwatch/rules-surface.toml /etc/logrotate.d/feedwatch
check_kept
# deb-systemd-helper masks the units of a removed package (so an enabled unit cannot start
# without its program); purge lifts the mask.
[[ "$(readlink "$sr/etc/systemd/system/feedwatch.service")" == /dev/null ]] || fail "feedwatch.service is not masked after remove"
ok "remove: program gone, units masked; conffiles (with the local edit), database and log kept"

stage=purge
dpkg_sr --purge feedwatch
[[ -z "$(status_of)" || "$(status_of)" == "un " || "$(status_of)" == "pn " ]] ||
    fail "after purge, dpkg status is '$(status_of)'"
must_not_exist /etc/feedwatch/feedwatch.toml /etc/feedwatch/rules.toml /etc/feedwatch/rules-surface.toml \
    /etc/feedwatch/models/green-zone.fwm /etc/logrotate.d/feedwatch /var/lib/feedwatch /var/lib/private/feedwatch /var/log/feedwatch \
    /var/log/private/feedwatch "$wants" /etc/systemd/system/feedwatch.service
ok "purge: config, database, log and the enable symlink deleted"

echo "check-deb: all checks passed for $deb ($sum1)"
