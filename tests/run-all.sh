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

# Runs one Criterion binary and adds its synthesis to the totals.
run_criterion() {
  local name=$1; shift
  local log
  log=$(mktemp)
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E 'Synthesis: Tested: [0-9]+' "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "!! $name produced no Criterion synthesis (exit $rc): counted as one failure"
    failed=$((failed + 1))
  else
    local p f c
    p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
    f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$line")
    c=$(sed -E 's/.*Crashing: ([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && failed=$((failed + 1)) && echo "!! $name exited $rc"
    : "$c" # crashes are already counted as failures by Criterion
  fi
  rm -f "$log"
}

# Runs a script suite whose last line is "N passed, M failed".
run_script() {
  local name=$1; shift
  local log
  log=$(mktemp)
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "!! $name printed no summary (exit $rc): counted as one failure"
    failed=$((failed + 1))
  else
    passed=$((passed + $(awk '{print $1}' <<<"$line")))
    failed=$((failed + $(awk '{print $3}' <<<"$line")))
    [ "$rc" -ne 0 ] && [ "$(awk '{print $3}' <<<"$line")" -eq 0 ] && failed=$((failed + 1))
  fi
  rm -f "$log"
}

run_criterion unit "$BUILD/tests/unit-tests" --jobs 2
run_criterion integration "$BUILD/tests/integration-tests" --jobs 1
skipped() { [[ " ${RISKPIPE_SKIP_SUITES:-} " == *" $1 "* ]] && echo "== $1: skipped (RISKPIPE_SKIP_SUITES)"; }
for s in tests/*/run.sh; do
  name=$(basename "$(dirname "$s")")
  skipped "$name" || { [ -x "$s" ] && run_script "$name" "$s"; }
done
if [ -x tests/compose/compose_test.sh ] && [ -z "${RISKPIPE_SKIP_COMPOSE:-}" ]; then
  skipped compose || run_script compose tests/compose/compose_test.sh
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
