#!/usr/bin/env bash
# riskctl over the daemons' HTTP API (issue 9, points 5 and 6), against a live pipeline of the
# real binaries on ports of this suite, every daemon behind a bearer token: query, verify and
# wait --url give the answers of their local modes and the totals check.py computes itself from
# the workload; a wrong token, swapped URLs, a stopped reducer (wait times out), stopped mappers
# (verify finds no stable snapshot) and an aggregate row changed on disk (verify fails with the
# diff) are each refused as they should be; riskctl top runs in a detached tmux session of a
# fixed size while a workload streams in, and its screen must show the exact totals of the top
# levels, rates and lag, "reconnecting" while the reducer is down, and the shell again after q.
# Prints PASS/FAIL per check and ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${RISKPIPE_BIN:-$PWD/bin}
HERE=$PWD/tests/cli
T=$(mktemp -d /tmp/riskpipe-cli.XXXXXX)
TM=riskpipe-cli-$$ # our own tmux server
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
WAIT_S=15
[ -n "${RISKPIPE_SANITIZED:-}" ] && WAIT_S=60 # sanitized daemons start slower

# 20 ports of our own in 14000-15999 (tests/lib/ports.sh).
. tests/lib/suite.sh
. tests/lib/ports.sh
pick_ports 14000 100 20 || exit 1
port() { echo $((BASE + $1)); }
ep() { echo "tcp://127.0.0.1:$(port "$1")"; }
S=http://127.0.0.1:$(port 10) # the state's HTTP API
R=http://127.0.0.1:$(port 11) # the reducer's
TOKEN=$T/token
echo "cli-token-$$-$RANDOM" >"$TOKEN"

STATE_PID="" REDUCER_PID="" MAPPER_PIDS=()
cleanup() {
    tmux -L "$TM" kill-server 2>/dev/null
    stop_pids $STATE_PID $REDUCER_PID "${MAPPER_PIDS[@]}"
    rm -rf "$T"
}
trap cleanup EXIT

ctl() { "$BIN/riskctl" "$@"; }
# GET $1 with the token: the body on stdout, exit 0 only for a 200.
get() { curl -sf --max-time 5 -H "Authorization: Bearer $(cat "$TOKEN")" "$1"; }
# A number of a /v1/status ($1 the URL, $2 the name).
status_num() {
    get "$1/v1/status" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

start_state() {
    "$BIN/riskpipe-state" --data "$T/state" --ingest "$(ep 0)" --ingest-pull "$(ep 1)" \
        --work "$(ep 2)" --acks "$(ep 4)" --control "$(ep 5)" --http "127.0.0.1:$(port 10)" \
        --http-token-file "$TOKEN" 2>>"$T/state.log" &
    STATE_PID=$!
}
start_reducer() {
    "$BIN/riskpipe-reducer" --data "$T/reducer" --results "$(ep 3)" --acks "$(ep 4)" \
        --control "$(ep 6)" --http "127.0.0.1:$(port 11)" --http-token-file "$TOKEN" \
        2>>"$T/reducer.log" &
    REDUCER_PID=$!
    wait_for "$WAIT_S" get "$R/v1/status"
}
stop_reducer() {
    kill -TERM "$REDUCER_PID" && wait "$REDUCER_PID"
    REDUCER_PID=""
}
start_mappers() {
    local i
    for i in 1 2; do
        "$BIN/riskpipe-mapper" --work "$(ep 2)" --results "$(ep 3)" 2>>"$T/mapper$i.log" &
        MAPPER_PIDS+=($!)
    done
}
stop_mappers() {
    local p
    for p in "${MAPPER_PIDS[@]}"; do kill -TERM "$p" && wait "$p"; done
    MAPPER_PIDS=()
}
# Sends a workload file through acknowledged ingest; 0 when every message was taken.
send() { ctl send "$1" --ingest "$(ep 0)" --quiet >"$T/send.out" 2>"$T/send.err"; }
# riskctl with the HTTP flags of this pipeline.
H=(--url "$R" --state-url "$S" --token-file "$TOKEN")
HQ=(--url "$R" --token-file "$TOKEN")

start_state
start_reducer
start_mappers
up=1
for u in "$S" "$R"; do wait_for "$WAIT_S" get "$u/v1/status" || up=0; done
if [ $up = 1 ]; then
    pass "state and reducer serve /v1/status behind the token"
else
    fail "start-up" "a daemon did not serve /v1/status within $WAIT_S s; logs:"
    tail -n 5 "$T"/*.log
    finish
fi
# Without the query API (the daemons of another branch) every later check would fail for
# that one reason: say it once.
if ! get "$R/v1/aggregates?limit=1" >/dev/null || ! get "$S/v1/trades?limit=1" >/dev/null; then
    fail "the daemons serve the query API" "GET $R/v1/aggregates or $S/v1/trades is not 200 \
(the daemons in $BIN do not have /v1/aggregates, /v1/trades and /v1/stream)"
    finish
fi

# --- query, verify and wait over HTTP against the local modes and the expected totals -------
ctl gen --count 20000 --seed 7 >"$T/work1.jsonl"
send "$T/work1.jsonl"
rc=$?
check "riskctl send: the first workload" "exit $rc: $(cat "$T/send.err")" -- [ $rc = 0 ]
out=$(ctl wait "${H[@]}" --timeout 60 2>&1)
rc=$?
check "wait --url: exit 0, with how long it took" "exit $rc: $out" -- \
    [ $rc = 0 -a -n "$(grep -E '^applied through change [0-9]+ \(waited [0-9.]+ s\)$' <<<"$out")" ]
committed=$(status_num "$S" committed_seq)
check "wait --url: applied through the state's committed_seq ($committed)" "$out" -- \
    [ -n "$committed" -a "$out" != "${out#applied through change $committed (}" ]
"$PY" "$HERE/check.py" expected "$T/exp1.json" "$T/work1.jsonl"
nexp=$("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$T/exp1.json")

ctl query --json "${HQ[@]}" >"$T/q_http.json" 2>"$T/q.err"
check "query --url --json: every row equals the expected total" \
    "$(cat "$T/q.err") $("$PY" "$HERE/check.py" json "$T/exp1.json" "$T/q_http.json")" -- \
    "$PY" "$HERE/check.py" json "$T/exp1.json" "$T/q_http.json"
ctl query --reducer-data "$T/reducer" >"$T/q_local.txt"
ctl query "${HQ[@]}" >"$T/q_http.txt"
check "query --url prints the tree the local query prints" \
    "$(diff "$T/q_local.txt" "$T/q_http.txt" | head -5)" -- \
    cmp -s "$T/q_local.txt" "$T/q_http.txt"
ctl query Delta::AMER --json --reducer-data "$T/reducer" >"$T/p_local.json"
ctl query Delta::AMER --json "${HQ[@]}" >"$T/p_http.json"
check "query Delta::AMER --url --json = local, and the expected rows under the prefix" \
    "$(diff "$T/p_local.json" "$T/p_http.json" | head -5)" -- \
    eval 'cmp -s "$T/p_local.json" "$T/p_http.json" &&
          "$PY" "$HERE/check.py" json "$T/exp1.json" "$T/p_http.json" Delta::AMER'
out=$(ctl verify "${H[@]}" 2>&1)
rc=$?
check "verify --url: exit 0, all $nexp expected rows match" "exit $rc: $out" -- \
    [ $rc = 0 -a -n "$(grep "^verify OK: $nexp aggregate rows match the state's" <<<"$out")" ]
out=$(RISKPIPE_CTL_URL=$R RISKPIPE_CTL_STATE_URL=$S RISKPIPE_CTL_TOKEN_FILE=$TOKEN \
    ctl verify 2>&1)
check "verify reads RISKPIPE_CTL_URL, _STATE_URL and _TOKEN_FILE" "$out" -- \
    grep -q "^verify OK: $nexp aggregate rows match the state's" <<<"$out"

# --- refusals ------------------------------------------------------------------------------
out=$(ctl query --url "$R" 2>&1)
rc=$?
check "query --url without the token: exit 1 with the daemon's 401" "exit $rc: $out" -- \
    [ $rc = 1 -a -n "$(grep -F "HTTP 401 from $R/v1/aggregates: missing or wrong bearer token" \
        <<<"$out")" ]
out=$(ctl verify --url "$S" --state-url "$R" --token-file "$TOKEN" 2>&1)
rc=$?
check "verify with the URLs swapped: exit 1 naming the role that answered" "exit $rc: $out" -- \
    [ $rc = 1 -a -n "$(grep -F "$R is not the state's HTTP endpoint: it answers as \"reducer\"" \
        <<<"$out")" ]
out=$(ctl wait --url "$R" --token-file "$TOKEN" 2>&1)
rc=$?
check "wait --url without --state-url: usage error 2" "exit $rc: $out" -- [ $rc = 2 ]
out=$(ctl query --url ftp://127.0.0.1 2>&1)
rc=$?
check "query --url of another scheme: usage error 2" "exit $rc: $out" -- [ $rc = 2 ]

# --- riskctl top under tmux ----------------------------------------------------------------
out=$(ctl top "${H[@]}" 2>&1 >"$T/top.out" </dev/null)
rc=$?
check "top refuses to draw when stdout is not a terminal" "exit $rc: $out" -- \
    [ $rc = 1 -a -n "$(grep 'stdout is not a terminal' <<<"$out")" ]
tmux -L "$TM" new-session -d -s cli -x 120 -y 45 "env PS1='cli\$ ' bash --norc --noprofile"
capture() { tmux -L "$TM" capture-pane -p -t cli >"$T/screen.txt"; }
screen_has() { capture && grep -qE "$1" "$T/screen.txt"; }
top_pid() { pgrep -P "$(tmux -L "$TM" display -p -t cli '#{pane_pid}')" -x riskctl; }
top_running() { top_pid >/dev/null; }
tmux -L "$TM" send-keys -t cli \
    "$BIN/riskctl top --url $R --state-url $S --token-file $TOKEN; echo TOP-EXIT=\$?" Enter
wait_for "$WAIT_S" screen_has '^stream +live'
check "top: the stream is live" "screen: $(cat "$T/screen.txt")" -- screen_has '^stream +live'
# a second workload streams in at 5000 msg/s while top shows it
ctl gen --count 20000 --seed 8 --rate 5000 | tee "$T/work2.jsonl" |
    ctl send - --ingest "$(ep 0)" --batch 100 --quiet >/dev/null 2>"$T/send2.err" &
send_pid=$!
rates_seen=0
while kill -0 "$send_pid" 2>/dev/null; do
    screen_has '^rates/s +accepted [0-9]*[1-9][0-9]*\.[0-9]' && rates_seen=1
    sleep 0.2
done
wait "$send_pid"
rc=$?
check "riskctl send: the second workload, while top runs" "exit $rc: $(cat "$T/send2.err")" -- \
    [ $rc = 0 ]
screen_has '^rates/s +accepted [0-9]*[1-9][0-9]*\.[0-9]' && rates_seen=1
check "top: a rate of accepted messages above 0 while they arrive" \
    "never seen; last screen: $(head -5 "$T/screen.txt")" -- [ $rates_seen = 1 ]
"$PY" "$HERE/check.py" expected "$T/exp2.json" "$T/work1.jsonl" "$T/work2.jsonl"
screen_ok() { capture && "$PY" "$HERE/check.py" screen "$T/exp2.json" "$T/screen.txt" 2; }
wait_for 30 screen_ok
check "top: the screen shows the exact total and count of every row of levels 1 and 2" \
    "$(screen_ok; cat "$T/screen.txt")" -- screen_ok
# The totals come with the stream's events; the sequence line with the
# statuses top reads once a second, and the state's lag drops to 0 only when
# the reducer's last acknowledgement has reached it: wait for it too.
seq_ok() { capture && grep -qE '^seq +committed ([0-9]+) +applied \1 +lag 0 *$' "$T/screen.txt"; }
wait_for 10 seq_ok
check "top: sequence numbers and lag, committed = applied, lag 0" "$(head -3 "$T/screen.txt")" -- \
    grep -qE '^seq +committed ([0-9]+) +applied \1 +lag 0 *$' "$T/screen.txt"
check "top: a line of rates and one of errors, each with its numbers" \
    "$(head -4 "$T/screen.txt")" -- eval \
    'grep -qE "^rates/s +accepted [0-9.]+ +duplicates [0-9.]+ +rejected [0-9.]+ +batches applied [0-9.]+" "$T/screen.txt" &&
     grep -qE "^errors +rejected 0 +dead letters 0 +refused peers 0 +bad frames 0" "$T/screen.txt"'
stop_reducer
# first "the reducer closed the stream", then each retry is refused
wait_for 10 screen_has '^stream +reconnecting.*Connection refused'
check "top: the reducer stopped, the screen says reconnecting" "$(head -7 "$T/screen.txt")" -- \
    screen_has '^stream +reconnecting.*Connection refused'
check "top: and keeps running" "no riskctl under the pane" -- top_running
start_reducer
wait_for "$WAIT_S" screen_has '^stream +live'
check "top: the reducer back, the stream is live again with the same totals" \
    "$(head -7 "$T/screen.txt")" -- eval 'screen_has "^stream +live" && screen_ok'
tmux -L "$TM" resize-window -t cli -x 100 -y 20
wait_for 5 screen_has 'rows 1-12 of 25 \(depth 2\)'
check "top: redrawn for a smaller window (12 of the 25 rows fit)" "$(tail -3 "$T/screen.txt")" -- \
    screen_has 'rows 1-12 of 25 \(depth 2\)'
tmux -L "$TM" send-keys -t cli q
shell_back() { capture && grep -q '^TOP-EXIT=0$' "$T/screen.txt" &&
    [ "$(grep -v '^$' "$T/screen.txt" | tail -1)" = 'cli$' ]; }
wait_for 10 shell_back
check "top: q quits with exit 0 and the pane shows the shell again" \
    "$(grep -v '^$' "$T/screen.txt" | tail -3)" -- shell_back
check "top: no riskctl process is left" "pid $(top_pid)" -- eval '! top_running'

# --- wait times out while the reducer is stopped -------------------------------------------
stop_reducer
ctl gen --count 300 --seed 9 >"$T/work3.jsonl"
send "$T/work3.jsonl"
rc=$?
check "riskctl send: a third workload, with the reducer stopped" \
    "exit $rc: $(cat "$T/send.err")" -- [ $rc = 0 ]
t0=$(date +%s%N)
out=$(ctl wait "${H[@]}" --timeout 2 2>&1)
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "wait --url with the reducer stopped: exit 1 after its 2 s timeout, saying why" \
    "exit $rc after $ms ms: $out" -- \
    [ $rc = 1 -a $ms -ge 2000 -a $ms -lt 8000 -a -n "$(grep 'timed out after 2 s' <<<"$out")" \
        -a -n "$(grep 'Connection refused' <<<"$out")" ]
start_reducer
out=$(ctl wait "${H[@]}" --timeout 60 2>&1)
rc=$?
check "wait --url once the reducer is back: exit 0" "exit $rc: $out" -- [ $rc = 0 ]

# --- verify finds no stable snapshot while the pipeline cannot catch up ---------------------
stop_mappers
ctl gen --count 300 --seed 10 >"$T/work4.jsonl"
send "$T/work4.jsonl"
rc=$?
check "riskctl send: a fourth workload, with no mapper" "exit $rc: $(cat "$T/send.err")" -- \
    [ $rc = 0 ]
t0=$(date +%s%N)
out=$(ctl verify "${H[@]}" --timeout 2 2>&1)
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "verify --url while the reducer lags: exit 1, no stable snapshot, after its timeout" \
    "exit $rc after $ms ms: $out" -- \
    [ $rc = 1 -a $ms -ge 2000 -a $ms -lt 10000 -a -n "$(grep 'no stable snapshot' <<<"$out")" \
        -a -z "$(grep 'verify OK' <<<"$out")" ]
start_mappers
ctl wait "${H[@]}" --timeout 60 >/dev/null 2>&1
"$PY" "$HERE/check.py" expected "$T/exp4.json" "$T/work"{1,2,3,4}.jsonl
nexp=$("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$T/exp4.json")
out=$(ctl verify "${H[@]}" 2>&1)
rc=$?
check "verify --url once the mappers are back: exit 0, all $nexp rows" "exit $rc: $out" -- \
    [ $rc = 0 -a -n "$(grep "^verify OK: $nexp aggregate rows" <<<"$out")" ]
ctl query --json "${HQ[@]}" >"$T/q4.json"
check "query --url --json after four workloads and two restarts: the expected totals" \
    "$("$PY" "$HERE/check.py" json "$T/exp4.json" "$T/q4.json")" -- \
    "$PY" "$HERE/check.py" json "$T/exp4.json" "$T/q4.json"

# --- verify detects an aggregate changed on disk -------------------------------------------
stop_reducer
tampered=$("$PY" "$HERE/check.py" tamper "$T/reducer" Delta::AMER 2>&1)
rc=$?
check "one aggregate row changed by 0.000001 in the stopped reducer's LMDB" "$tampered" -- \
    [ $rc = 0 ]
start_reducer
out=$(ctl verify "${H[@]}" --timeout 30 2>&1)
rc=$?
new=${tampered##* -> }
check "verify --url: exit 1, the one row named with both values" "exit $rc: $out" -- \
    [ $rc = 1 -a -n "$(grep -E "^differs  Delta::AMER: expected .* aggregate has $new " <<<"$out")" \
        -a -n "$(grep -x 'verify FAILED: 1 difference(s)' <<<"$out")" ]
out=$(ctl verify --state-data "$T/state" --reducer-data "$T/reducer" 2>&1)
rc=$?
check "and the local verify agrees (the change is real)" "exit $rc: $out" -- \
    [ $rc = 1 -a -n "$(grep -x 'verify FAILED: 1 difference(s)' <<<"$out")" ]

finish
