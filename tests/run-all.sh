#!/usr/bin/env bash
# Runs every test suite (unit, integration, compose when Docker answers) and
# ends with one line "N passed, M failed", which CI reads. Exit 1 if any failed.
# RISKPIPE_TEST_QUICK=1 shortens the heavier suites (used by `make asan`);
# RISKPIPE_SKIP_SUITES="fuzz compose" leaves the named suites out.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export RISKPIPE_BIN=${RISKPIPE_BIN:-$PWD/bin}
passed=0
failed=0
failures=$(mktemp) # "suite: line" for every failing check, listed before the totals
trap 'rm -f "$failures"' EXIT

# Runs one suite (kind "criterion": a Criterion binary, whose synthesis line
# is read; kind "script": its last "N passed, M failed" line) and adds its
# counts to the totals. A suite with no summary, or that exits non-zero while
# reporting no failure, counts as one failure.
run_suite() {
  local name=$1 kind=$2; shift 2
  local log p f rc line
  log=$(mktemp)
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if [ "$kind" = criterion ]; then
    line=$(grep -E 'Synthesis: Tested: [0-9]+' "$log" | tail -1)
    p=$(sed -nE 's/.*Passing: ([0-9]+).*/\1/p' <<<"$line")
    f=$(sed -nE 's/.*Failing: ([0-9]+).*/\1/p' <<<"$line") # crashes count as failing
  else
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    p=$(awk '{ print $1 }' <<<"$line")
    f=$(awk '{ print $3 }' <<<"$line")
  fi
  # what failed, by name: Criterion's [FAIL] lines, a script's FAIL lines
  grep -E '^\[FAIL\]|^\[----\] [^ ]+:[0-9]+:|^FAIL|^!! ' "$log" | sed "s/^/$name: /" >>"$failures"
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "$name: printed no summary (exit $rc)" >>"$failures"
    echo "!! $name printed no summary (exit $rc): counted as one failure"
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "!! $name exited $rc"
    echo "$name: exited $rc with no failure counted" >>"$failures"
    failed=$((failed + 1))
  fi
}

run_suite unit criterion "$BUILD/tests/unit-tests" --jobs 2
run_suite integration criterion "$BUILD/tests/integration-tests" --jobs 1
run_suite security criterion "$BUILD/tests/security-tests" --jobs 1
skipped() { [[ " ${RISKPIPE_SKIP_SUITES:-} " == *" $1 "* ]] && echo "== $1: skipped (RISKPIPE_SKIP_SUITES)"; }
for s in tests/*/run.sh; do
  name=$(basename "$(dirname "$s")")
  skipped "$name" || { [ -x "$s" ] && run_suite "$name" script "$s"; }
done
# The compose test once under each compose tool: Docker Compose v2 (`docker
# compose`, the CLI plugin make deps installs) and the standalone
# docker-compose 1.29; a tool that is missing makes its run a skip.
if [ -x tests/compose/compose_test.sh ] && [ -z "${RISKPIPE_SKIP_COMPOSE:-}" ] && ! skipped compose; then
  for tool in v2 v1; do
    run_suite "compose-$tool" script env RISKPIPE_COMPOSE_TOOL=$tool tests/compose/compose_test.sh
  done
fi
# The failing checks by name just above the totals, where a log's tail shows them.
if [ -s "$failures" ]; then
  echo "== failing checks ($(wc -l <"$failures")):"
  head -40 "$failures"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
