#!/usr/bin/env bash
# `make run`: starts state, $MAPPERS mappers and the reducer with data under
# ./data, feeds a generated demo workload, shows the aggregate tree, and keeps
# the pipeline running until Ctrl-C, which stops every process cleanly.
# Each process runs under a restart loop, so `RISKPIPE_CHAOS=state:5,mapper:10,
# reducer:10 make run` shows the pipeline ending exact through random aborts.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
MAPPERS=${MAPPERS:-2}
DEMO_COUNT=${DEMO_COUNT:-200000}
DATA=${DATA:-./data}
LOGS=$DATA/logs
mkdir -p "$LOGS"
STOP=$(mktemp -u)
pids=()

# Runs a process, restarting it after a crash (not after a clean exit or once
# we are stopping).
supervise() {
  local name=$1; shift
  while :; do
    local rc=0
    "$@" 2>>"$LOGS/$name.log" || rc=$?
    [ -e "$STOP" ] || [ "$rc" -eq 0 ] && break
    echo "riskpipe: $name exited with status $rc; restarting" >&2
    sleep 0.2
  done
}

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping riskpipe..."
  touch "$STOP"
  for p in "${pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$STOP"
  echo "stopped; data kept in $DATA (logs in $LOGS)"
}
trap stop_all INT TERM EXIT

supervise state "$BIN/riskpipe-state" --data "$DATA/state" &
pids+=($!)
supervise reducer "$BIN/riskpipe-reducer" --data "$DATA/reducer" &
pids+=($!)
for i in $(seq 1 "$MAPPERS"); do
  supervise "mapper$i" "$BIN/riskpipe-mapper" &
  pids+=($!)
done
for p in state reducer; do
  for _ in $(seq 1 50); do "$BIN/riskctl" ping "$p" >/dev/null 2>&1 && break; sleep 0.1; done
done
echo "riskpipe running: state, $MAPPERS mapper(s), reducer (logs in $LOGS)"

echo "sending a demo workload of $DEMO_COUNT messages..."
"$BIN/riskctl" gen --count "$DEMO_COUNT" --seed "$RANDOM" | "$BIN/riskctl" send
"$BIN/riskctl" wait --timeout 300
echo
# (through a file: head closing the pipe early would fail the script under pipefail)
"$BIN/riskctl" query >"$LOGS/query.txt"
head -40 "$LOGS/query.txt"
echo "(first 40 of $(wc -l <"$LOGS/query.txt") rows; 'bin/riskctl query' for all, 'bin/riskctl stats' for counters)"
"$BIN/riskctl" verify
echo
echo "pipeline is running; send more with: bin/riskctl gen --count 1000 | bin/riskctl send"
echo "dashboard: http://127.0.0.1:9556/   live terminal view: bin/riskctl top   metrics: curl -s http://127.0.0.1:9556/metrics"
echo "press Ctrl-C to stop"
wait
