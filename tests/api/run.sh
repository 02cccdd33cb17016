#!/usr/bin/env bash
# The query API (docs/openapi.yaml) against a live pipeline: state, reducer
# and two mappers with --http on ports of this suite, the state and the
# reducer with a bearer token, take a generated workload plus hand-made
# trades (odd TradeIDs, quotes, non-ASCII, extra Hierarchy keys, a path that
# a whole-level prefix must skip). tests/api/check.py then compares every
# answer of /v1/aggregates, /v1/trades and /v1/stream with its own model of
# the workloads (tests/api/model.py), tries 400, 401, 404, 405 and 503, sends
# more messages while event streams listen and times their updates.
# Last, schemathesis (pinned in the Makefile; `make deps` installs it in
# .venv) fuzzes the state and the reducer against the OpenAPI document:
# no 5xx, every answer in its schema. /v1/stream is left out of that run (it
# never ends; check.py covers it). Prints PASS/FAIL per check and ends with
# "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${RISKPIPE_BIN:-$PWD/bin}
VENV=${RISKPIPE_VENV:-$PWD/.venv}
T=$(mktemp -d /tmp/riskpipe-api.XXXXXX)
# 40 ports of our own in 12000-13999 (tests/lib/ports.sh).
. tests/lib/suite.sh
. tests/lib/ports.sh
pick_ports 12000 50 40 || exit 1
PIDS=()

cleanup() {
    stop_pids "${PIDS[@]}"
    rm -rf "$T"
}
trap cleanup EXIT

port() { echo $((BASE + $1)); }
ep() { echo "tcp://127.0.0.1:$(port "$1")"; }
url() { echo "http://127.0.0.1:$(port "$1")$2"; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

echo "api-token-$$-$RANDOM" >"$T/token"
TOKEN=$(cat "$T/token")
"$BIN/riskpipe-state" --data "$T/state" --ingest "$(ep 0)" --ingest-pull "$(ep 1)" \
    --work "$(ep 2)" --acks "$(ep 4)" --control "$(ep 5)" --http "127.0.0.1:$(port 10)" \
    --http-token-file "$T/token" 2>"$T/state.log" &
PIDS+=($!)
"$BIN/riskpipe-reducer" --data "$T/reducer" --results "$(ep 3)" --acks "$(ep 4)" \
    --control "$(ep 6)" --http "127.0.0.1:$(port 11)" --http-token-file "$T/token" \
    2>"$T/reducer.log" &
PIDS+=($!)
for i in 1 2; do
    "$BIN/riskpipe-mapper" --work "$(ep 2)" --results "$(ep 3)" \
        --http "127.0.0.1:$(port $((11 + i)))" 2>"$T/mapper$i.log" &
    PIDS+=($!)
done
up=1
wait_s=15
[ -n "${RISKPIPE_SANITIZED:-}" ] && wait_s=60 # sanitized daemons start slower
for i in 10 11; do
    wait_for "$wait_s" curl -sf -H "Authorization: Bearer $TOKEN" "$(url $i /v1/status)" || up=0
done
for i in 12 13; do wait_for "$wait_s" curl -sf "$(url $i /v1/status)" || up=0; done
if [ $up = 1 ]; then
    pass "state, reducer and both mappers serve /v1/status"
else
    fail "start-up" "a daemon did not serve /v1/status within $wait_s s; logs:"
    tail -n 5 "$T"/*.log
    echo "$passed passed, $failed failed"
    exit 1
fi

# The workload: generated, then hand-made trades whose text must survive
# JSON and URLs both ways.
"$BIN/riskctl" gen --count 20000 --seed 11 >"$T/work.jsonl"
"$PY" - "$T/special.jsonl" <<'PYEOF'
import json, sys
trades = [
    {"TradeID": "api/1 a+b%?#&=", "Value": "12.5", "Version": 1, "Timestamp": 1700000000,
     "Hierarchy": {"RiskType": "Delta", "Region": "AMERICAS", "TradeDesk": "FX \"Q\"",
                   "Book": "B\\7", "Trader": "Zo\u00eb"}},
    {"TradeID": "api-\u00e9-2", "Value": "-0.0000015", "Version": 3,
     "Hierarchy": {"RiskType": "Delta", "Region": "AMER", "TradeDesk": "Rates"}},
    {"TradeID": "api-solo", "Value": "5", "Version": 1, "Timestamp": 1700000000.25,
     "Hierarchy": {"RiskType": "Kappa", "Region": "ZZ", "TradeDesk": "Solo"}},
    {"TradeID": "api-\u65e5\u672c", "Value": "1000", "Version": 2, "Timestamp": 1.7e9,
     "Hierarchy": {"RiskType": "Vega", "Region": "APAC", "TradeDesk": "\u00c9quit\u00e9"}},
]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for t in trades:
        f.write(json.dumps(t, ensure_ascii=False) + "\n")
PYEOF
sent=1
for w in work special; do
    "$BIN/riskctl" send "$T/$w.jsonl" --ingest "$(ep 0)" >"$T/send-$w.out" 2>&1 || sent=0
done
if [ $sent = 1 ]; then pass "riskctl send delivered the workload"
else fail "riskctl send" "$(tail -3 "$T"/send-*.out)"; fi
wait_out=$("$BIN/riskctl" wait --state-control "$(ep 5)" --timeout 60 2>&1)
if [ $? = 0 ]; then pass "riskctl wait: every change aggregated"
else fail "riskctl wait" "$wait_out"; fi

# The answers, against the model of the workloads.
"$PY" tests/api/check.py "$(port 10)" "$(port 11)" "$T/token" "$BIN/riskctl" "$(ep 0)" \
    "$(ep 5)" "$T" "$T/work.jsonl" "$T/special.jsonl" 2>&1 | tee "$T/check.out"
rc=${PIPESTATUS[0]}
p=$(grep -c '^PASS ' "$T/check.out")
f=$(grep -c '^FAIL ' "$T/check.out")
passed=$((passed + p))
failed=$((failed + f))
if [ "$rc" != 0 ] && [ "$f" = 0 ]; then fail "check.py" "exited $rc without a FAIL line"; fi

# schemathesis against the document, a fixed seed and a bounded number of
# examples per operation.
ST="$VENV/bin/schemathesis"
st_run() { # name port path-regex
    local name=$1 port=$2 paths=$3 out="$T/st-$1.out"
    (cd "$T" && timeout 300 "$ST" run "$ROOT/docs/openapi.yaml" --url "http://127.0.0.1:$port" \
        --include-path-regex "$paths" -H "Authorization: Bearer $TOKEN" \
        --checks not_a_server_error,response_schema_conformance --max-examples 100 --seed 1 \
        --workers 1 --request-timeout 10 --generation-database none --no-color) >"$out" 2>&1
    local st=$?
    if [ $st = 0 ]; then
        pass "schemathesis: the $name's answers are no 5xx and fit docs/openapi.yaml ($(grep -oE '[0-9]+ generated' "$out" | head -1 || true))"
    else
        fail "schemathesis on the $name" "exit $st:"
        tail -n 40 "$out"
    fi
}
if [ -x "$ST" ]; then
    st_run reducer "$(port 11)" '^/(metrics|v1/status|v1/aggregates|)$'
    st_run state "$(port 10)" '^/(metrics|v1/status|v1/trades|v1/trades/\{TradeID\})$'
else
    fail "schemathesis" "$ST is missing: make deps creates the venv (.venv, or RISKPIPE_VENV) with it"
fi
for d in state reducer; do
    if grep -q ' E ' "$T/$d.log"; then fail "the $d logged no error" "$(grep ' E ' "$T/$d.log" | head -3)"
    else pass "the $d logged no error"; fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
