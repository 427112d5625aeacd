#!/usr/bin/env bash
# The binary-driven integration suites run again on PostgreSQL (issue #15: "the integration
# suites pass on both backends"): with FEEDWATCH_TEST_BACKEND=postgres every test instance
# stores in a fresh schema of the server FEEDWATCH_TEST_POSTGRES names (tests/common/backend.rs)
# instead of a SQLite file. The suites left out test the SQLite store itself (its file, lock,
# disk faults, retention, schedule and `db` maintenance) or need no database; their
# PostgreSQL counterparts are the pg_* suites.
#
#   eval "$(scripts/pg-throwaway.sh start /tmp/fw-pg)"
#   scripts/test-on-postgres.sh [cargo test options]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${FEEDWATCH_TEST_POSTGRES:-}" ]]; then
    echo "test-on-postgres: FEEDWATCH_TEST_POSTGRES is unset (eval \"\$(scripts/pg-throwaway.sh start DIR)\" sets it)" >&2
    exit 2
fi
suites=(e2e crash chaos dedup hostile cli sinks_daemon digest_schedule daemon app operator
    feeds_cli digest json_schemas metrics_listener output_safety progress fetch_guard)
args=()
for s in "${suites[@]}"; do args+=(--test "$s"); done
FEEDWATCH_TEST_BACKEND=postgres exec cargo test "$@" "${args[@]}"
