#!/usr/bin/env bash
# Sharded state (issue 10, point 1), driving the real binaries on loopback as a user would: a
# pipeline of K=2 state shards, one reducer (--shards 2, each shard's acks endpoint) and two
# mappers pulling from both shards. riskctl send routes each message to the shard of its
# TradeID; the expected totals are computed by tests/cli/check.py and the placement of every
# trade by tests/shard/route.py, both from the workload and the docs alone, with no riskpipe
# code. Checks: exact totals and `riskctl verify` across shards; every trade in its shard and
# both shards used; a message sent to the wrong shard is rejected with the right shard named,
# dead-letters nothing and changes no total; a shard killed with SIGKILL mid-stream and
# restarted loses and doubles nothing; a state or reducer started with another shard count, a
# reducer whose --acks does not match --shards, and verify given the shards out of order are
# all refused with a reason. Prints PASS/FAIL per check; ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${RISKPIPE_BIN:-$PWD/bin}
HERE=$PWD/tests/shard
CHECK=$PWD/tests/cli/check.py
T=$(mktemp -d /tmp/riskpipe-shard.XXXXXX)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
WAIT_S=20
[ -n "${RISKPIPE_SANITIZED:-}" ] && WAIT_S=90 # sanitized daemons are slower
N=20000
[ -n "${RISKPIPE_TEST_QUICK:-}" ] && N=8000

# 20 ports of our own in 22000-23999 (tests/lib/ports.sh).
. tests/lib/suite.sh
. tests/lib/ports.sh
pick_ports 22000 100 20 || exit 1
port() { echo $((BASE + $1)); }
ep() { echo "tcp://127.0.0.1:$(port "$1")"; }
# shard S's endpoints: ingest 0, pull 1, work 2, acks 3, control 4 (+5 for shard 1)
sep() { ep $(($1 * 5 + $2)); }
RESULTS=$(ep 10)
RCONTROL=$(ep 11)
INGEST="$(sep 0 0),$(sep 1 0)"
CONTROLS="$(sep 0 4),$(sep 1 4)"
WORKS="$(sep 0 2),$(sep 1 2)"
ACKS="$(sep 0 3),$(sep 1 3)"
DATA="$T/state0,$T/state1"

STATE_PIDS=("" "") REDUCER_PID="" MAPPER_PIDS=()
cleanup() {
    stop_pids "${STATE_PIDS[@]}" $REDUCER_PID "${MAPPER_PIDS[@]}"
    rm -rf "$T"
}
trap cleanup EXIT
ctl() { "$BIN/riskctl" "$@"; }

# start_state S [FLAGS...]: shard S of 2, in the background.
start_state() {
    local s=$1
    shift
    "$BIN/riskpipe-state" --data "$T/state$s" --shard "$s" --shards 2 --ingest "$(sep "$s" 0)" \
        --ingest-pull "$(sep "$s" 1)" --work "$(sep "$s" 2)" --acks "$(sep "$s" 3)" \
        --control "$(sep "$s" 4)" --http "127.0.0.1:$(port $((12 + s)))" --batch-size 256 "$@" \
        2>>"$T/state$s.log" &
    STATE_PIDS[$s]=$!
}
start_reducer() {
    "$BIN/riskpipe-reducer" --data "$T/reducer" --shards 2 --results "$RESULTS" --acks "$ACKS" \
        --control "$RCONTROL" --http "127.0.0.1:$(port 14)" 2>>"$T/reducer.log" &
    REDUCER_PID=$!
}
start_mappers() {
    local i
    for i in 1 2; do
        "$BIN/riskpipe-mapper" --work "$WORKS" --results "$RESULTS" 2>>"$T/mapper$i.log" &
        MAPPER_PIDS+=($!)
    done
}
# answers CONTROL: the state at CONTROL and the reducer answer riskctl stats.
answers() { ctl stats --state-control "$1" --reducer-control "$RCONTROL" --timeout-ms 500 >/dev/null 2>&1; }
send() { ctl send "$@" --ingest "$INGEST" --quiet; }
# settled: every shard's changes are applied (riskctl wait on both controls)
settled() { ctl wait --state-control "$CONTROLS" --timeout "$WAIT_S" >/dev/null 2>&1; }
verify() { ctl verify --state-data "$DATA" --reducer-data "$T/reducer"; }
# totals_ok EXPECTED.json: the reducer's rows equal the expected ones exactly.
totals_ok() {
    ctl query --json --reducer-data "$T/reducer" >"$T/q.json" 2>"$T/q.err" &&
        "$PY" "$CHECK" json "$1" "$T/q.json"
}
# stat S NAME: counter NAME of shard S's state process (riskctl stats)
stat() {
    ctl stats --state-control "$(sep "$1" 4)" --reducer-control "$RCONTROL" 2>/dev/null |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["state"][sys.argv[1]])' "$2"
}
dlq_count() { stat "$1" dlq_entries; }

start_state 0
start_state 1
start_reducer
start_mappers
if wait_for "$WAIT_S" answers "$(sep 0 4)" && wait_for "$WAIT_S" answers "$(sep 1 4)"; then
    pass "two state shards, a reducer with --shards 2 and two mappers start"
else
    fail "start-up" "a daemon did not answer within $WAIT_S s: $(tail -n 3 "$T"/*.log)"
    finish
fi

# --- routing, exact totals, verify across shards --------------------------------------------
ctl gen --count "$N" --seed 11 >"$T/w1.jsonl"
out=$(send "$T/w1.jsonl" --wait --state-control "$CONTROLS" 2>&1)
rc=$?
check "riskctl send routes $N messages over both shards and --wait waits for both" \
    "exit $rc: $out" -- [ $rc = 0 ]
"$PY" "$CHECK" expected "$T/exp1.json" "$T/w1.jsonl"
check "the aggregate equals the independent computation" "$(totals_ok "$T/exp1.json")" -- \
    totals_ok "$T/exp1.json"
out=$(verify 2>&1)
rc=$?
check "riskctl verify across both shards: OK" "exit $rc: $out" -- \
    [ $rc = 0 -a -n "$(grep 'verify OK' <<<"$out")" ]
# the same over the daemons' HTTP API: every shard's URL in --state-url
SURLS="http://127.0.0.1:$(port 12),http://127.0.0.1:$(port 13)" RURL=http://127.0.0.1:$(port 14)
out=$(ctl wait --url "$RURL" --state-url "$SURLS" --timeout "$WAIT_S" 2>&1)
rc=$?
check "riskctl wait --url with both shards' --state-url: exit 0" "exit $rc: $out" -- [ $rc = 0 ]
out=$(ctl verify --url "$RURL" --state-url "$SURLS" --timeout "$WAIT_S" 2>&1)
rc=$?
check "riskctl verify --url across both shards' trades: OK" "exit $rc: $out" -- \
    eval '[ $rc = 0 ] && [ -n "$(grep -F "verify OK" <<<"$out")" ]'
out=$(ctl verify --url "$RURL" --state-url "http://127.0.0.1:$(port 12)" --timeout 2 2>&1)
rc=$?
check "riskctl verify --url given one shard of two: refused, naming the reducer's 2 shards" \
    "exit $rc: $out" -- \
    eval '[ $rc = 1 ] && [ -n "$(grep -F "applies 2 state shard(s), but --state-url names 1" <<<"$out")" ]'
out=$("$PY" "$HERE/route.py" placed 2 "$T/state0" "$T/state1" 2>&1)
rc=$?
counts=$(sed -nE 's/.*trades per shard: \[([0-9]+), ([0-9]+)\].*/\1 \2/p' <<<"$out")
read -r c0 c1 <<<"$counts"
check "every trade is in the shard of FNV-1a(TradeID) mod 2, computed independently" \
    "exit $rc: $out" -- [ $rc = 0 ]
fair() { [ -n "$c1" ] && [ "$c0" -gt $(((c0 + c1) * 4 / 10)) ] && [ "$c1" -gt $(((c0 + c1) * 4 / 10)) ]; }
check "both shards hold a fair share ($c0 and $c1 trades)" "$out" -- fair
out=$(ctl stats --state-control "$(sep 0 4)" --reducer-control "$RCONTROL" 2>&1)
check "the reducer reports 2 shards and each shard's applied sequence" "$out" -- \
    eval '[ -n "$(grep -E "\"shards\": 2" <<<"$out")" ] && [ -n "$(grep -F "shard 1 applied_seq" <<<"$out")" ]'

# --- the C client library's example producer --------------------------------------------------
# built again here exactly as README.md and client/example.c tell a producer to build it
cmd=$(grep -o 'cc -Iclient client/example.c bin/libriskpipe-client.a [^`]*' README.md | head -n 1)
# (a sanitized build's library needs its sanitizer runtimes at link time too)
san=""
[ -n "${RISKPIPE_SANITIZED:-}" ] && san="-fsanitize=address,undefined"
out=$(eval "${cmd/bin\/libriskpipe-client.a/$BIN/libriskpipe-client.a} $san -o $T/example" 2>&1)
rc=$?
check "the README's build line links the example against the library alone: $cmd" \
    "exit $rc: $out" -- [ $rc = 0 -a -x "$T/example" ]
# rp-client-example sends trades example-0..N-1 of Value (i % 100) + 0.5 on Delta::EMEA::Rates
# (client/example.c); the totals must move by exactly that, computed here.
before=$(ctl query Delta::EMEA::Rates --json --reducer-data "$T/reducer")
out=$("$BIN/rp-client-example" "$INGEST" 3000 2>&1)
rc=$?
check "rp-client-example (linked with libriskpipe-client.a) routes 3000 trades over both shards" \
    "exit $rc: $out" -- eval '[ $rc = 0 ] && [ -n "$(grep -F "accepted 3000," <<<"$out")" ]'
settled
after=$(ctl query Delta::EMEA::Rates --json --reducer-data "$T/reducer")
moved=$("$PY" - "$before" "$after" <<'PY'
import decimal, json, sys
row = lambda t: next(((decimal.Decimal(r["value"]), r["count"]) for r in json.loads(t)
                      if r["path"] == "Delta::EMEA::Rates"), (decimal.Decimal(0), 0))
(v0, c0), (v1, c1) = row(sys.argv[1]), row(sys.argv[2])
want = sum(decimal.Decimal(i % 100) + decimal.Decimal("0.5") for i in range(3000))
print("ok" if (v1 - v0, c1 - c0) == (want, 3000) else "moved %s/%d, want %s/3000" % (v1 - v0, c1 - c0, want))
PY
)
check "the example's trades moved Delta::EMEA::Rates by exactly their sum" "$moved" -- [ "$moved" = ok ]
out=$("$PY" "$HERE/route.py" placed 2 "$T/state0" "$T/state1" 2>&1)
check "the example's trades are in their shards too" "$out" -- \
    [ -n "$(grep -F 'misplaced: 0' <<<"$out")" ]
# the example's trades as JSON lines, for the independent computation from here on
"$PY" -c 'for i in range(3000): print("{\"TradeID\":\"example-%d\",\"Version\":1,\"Value\":\"%d.5\",\"Hierarchy\":{\"RiskType\":\"Delta\",\"Region\":\"EMEA\",\"TradeDesk\":\"Rates\"}}" % (i, i % 100))' >"$T/ex.jsonl"
"$PY" "$CHECK" expected "$T/exp1.json" "$T/w1.jsonl" "$T/ex.jsonl"
check "after the example: the aggregate equals the independent computation" \
    "$(totals_ok "$T/exp1.json")" -- totals_ok "$T/exp1.json"

# --- a message sent to the wrong shard -------------------------------------------------------
id=$("$PY" "$HERE/route.py" pick 2 0 1 wrongshard)
printf '{"TradeID":"%s","Version":1,"Value":"1000000","Hierarchy":{"RiskType":"Delta","Region":"AMER","TradeDesk":"FXSpot"}}\n' \
    "$id" >"$T/wrong.jsonl"
dlq_before=$(dlq_count 1)
out=$(ctl send "$T/wrong.jsonl" --ingest "$(sep 1 0)" 2>&1)
rc=$?
check "a message sent to shard 1 that belongs to shard 0 is rejected: exit 1, naming shard 0" \
    "exit $rc: $out" -- \
    eval '[ $rc = 1 ] && [ -n "$(grep -F "wrong shard: TradeID belongs to shard 0 of 2, this is shard 1" <<<"$out")" ]'
check "riskctl send says how to route (every shard's endpoint in --ingest)" "$out" -- \
    [ -n "$(grep -F "list every shard's ingest endpoint in --ingest" <<<"$out")" ]
settled
check "the misrouted message changed no total and was not dead-lettered" \
    "dlq before $dlq_before, after $(dlq_count 1); $(totals_ok "$T/exp1.json")" -- \
    eval '[ "$(dlq_count 1)" = "$dlq_before" ] && totals_ok "$T/exp1.json"'

# --- a shard killed mid-stream ---------------------------------------------------------------
# paced (10,000 msg/s), so that the kill lands while messages are still arriving
(ctl gen --count "$N" --seed 12 --trades $((N / 2)) --rate 10000 | tee "$T/w2.jsonl" |
    send - --timeout-ms 1000 --retries 120 >"$T/send2.out" 2>"$T/send2.err") &
SENDER=$!
seq0=$(stat 1 committed_seq)
# kill shard 1 once it has taken part of the second workload
wait_for "$WAIT_S" eval '[ "$(stat 1 committed_seq)" -gt $((seq0 + 1000)) ]'
midstream=0
kill -0 "$SENDER" 2>/dev/null && midstream=1
kill -KILL "${STATE_PIDS[1]}"
wait "${STATE_PIDS[1]}" 2>/dev/null
check "shard 1 was killed (SIGKILL) while the second workload was still being sent" \
    "the sender had already finished" -- [ $midstream = 1 ]
start_state 1
wait "$SENDER"
rc=$?
check "riskctl send rides over shard 1's SIGKILL and restart: exit 0" \
    "exit $rc: $(tail -n 3 "$T/send2.err")" -- [ $rc = 0 ]
settled
"$PY" "$CHECK" expected "$T/exp2.json" "$T/w1.jsonl" "$T/ex.jsonl" "$T/w2.jsonl"
check "after the kill: the aggregate equals the independent computation (nothing lost or doubled)" \
    "$(totals_ok "$T/exp2.json")" -- totals_ok "$T/exp2.json"
out=$(verify 2>&1)
check "after the kill: riskctl verify across both shards OK" "$out" -- \
    [ -n "$(grep 'verify OK' <<<"$out")" ]

# --- the reducer's data lost: refused, then rebuilt from both shards ----------------------------
stop_pids $REDUCER_PID
REDUCER_PID=""
rm -rf "$T/reducer"
start_reducer
ctl gen --count 2000 --seed 13 --trades 1000 >"$T/w3.jsonl"
send "$T/w3.jsonl" >/dev/null 2>&1 &
SENDER=$!
refused() { grep -q "refusing .* RESULT frame(s): this reducer has applied nothing of shard" "$T/reducer.log"; }
check "a reducer whose data was lost refuses both shards' streams, naming riskctl rebuild" \
    "$(tail -n 3 "$T/reducer.log")" -- wait_for "$WAIT_S" refused
stop_pids $REDUCER_PID
REDUCER_PID=""
out=$(ctl rebuild --state-data "$DATA" --reducer-data "$T/reducer" 2>&1)
rc=$?
check "riskctl rebuild from both shards' state tables: exit 0" "exit $rc: $out" -- \
    eval '[ $rc = 0 ] && [ -n "$(grep -F "bound to them" <<<"$out")" ]'
start_reducer
wait "$SENDER"
rc=$?
check "the send that waited for the rebuilt reducer: exit 0" "exit $rc" -- [ $rc = 0 ]
settled
"$PY" "$CHECK" expected "$T/exp3.json" "$T/w1.jsonl" "$T/ex.jsonl" "$T/w2.jsonl" "$T/w3.jsonl"
check "after the rebuild: the aggregate equals the independent computation" \
    "$(totals_ok "$T/exp3.json")" -- totals_ok "$T/exp3.json"
out=$(verify 2>&1)
check "after the rebuild: riskctl verify across both shards OK" "$out" -- \
    [ -n "$(grep 'verify OK' <<<"$out")" ]
out=$(ctl rebuild --state-data "$T/state1,$T/state0" --reducer-data "$T/rebuilt-wrong" 2>&1)
rc=$?
check "riskctl rebuild given the shards out of order: exit 1 naming the shard" "exit $rc: $out" -- \
    eval '[ $rc = 1 ] && [ -n "$(grep -F "is shard 1 of 2, but it is given as shard 0" <<<"$out")" ]'

# --- mismatched shard counts are refused -----------------------------------------------------
out=$(ctl verify --state-data "$T/state1,$T/state0" --reducer-data "$T/reducer" 2>&1)
rc=$?
check "verify given the shards out of order: exit 1 naming the shard" "exit $rc: $out" -- \
    eval '[ $rc = 1 ] && [ -n "$(grep -F "is shard 1 of 2, but it is given as shard 0" <<<"$out")" ]'
stop_pids "${STATE_PIDS[1]}"
STATE_PIDS[1]=""
out=$(timeout 20 "$BIN/riskpipe-state" --data "$T/state1" --shard 1 --shards 3 --http "" \
    --ingest "$(sep 1 0)" --ingest-pull "$(sep 1 1)" --work "$(sep 1 2)" --acks "$(sep 1 3)" \
    --control "$(sep 1 4)" 2>&1)
rc=$?
check "a state shard restarted with --shards 3 refuses to start, naming the recorded 1 of 2" \
    "exit $rc: $out" -- \
    eval '[ $rc = 1 ] && [ -n "$(grep -F "is shard 1 of a pipeline of 2 shard(s), not shard 1 of 3" <<<"$out")" ]'
stop_pids $REDUCER_PID
REDUCER_PID=""
out=$(timeout 20 "$BIN/riskpipe-reducer" --data "$T/reducer" --shards 3 --http "" \
    --results "$RESULTS" --acks "$ACKS,$(ep 19)" --control "$RCONTROL" 2>&1)
rc=$?
check "a reducer restarted with --shards 3 refuses to start, naming the recorded 2" \
    "exit $rc: $out" -- \
    eval '[ $rc = 1 ] && [ -n "$(grep -F "belongs to a pipeline of 2 state shard(s), not 3" <<<"$out")" ]'
out=$(timeout 20 "$BIN/riskpipe-reducer" --data "$T/reducer" --shards 2 --http "" \
    --results "$RESULTS" --acks "$(sep 0 3)" --control "$RCONTROL" 2>&1)
rc=$?
check "a reducer with --shards 2 and one --acks endpoint refuses to start" "exit $rc: $out" -- \
    eval '[ $rc = 1 ] && [ -n "$(grep -F -- "--acks names 1 endpoint(s) but --shards is 2" <<<"$out")" ]'
finish
