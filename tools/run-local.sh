#!/usr/bin/env bash
# `make run`: starts state, $MAPPERS mappers and the reducer with data under
# ./data, feeds a generated demo workload, shows the aggregate tree, and keeps
# the pipeline running until Ctrl-C, which stops every process cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
MAPPERS=${MAPPERS:-2}
DEMO_COUNT=${DEMO_COUNT:-200000}
DATA=${DATA:-./data}
LOGS=$DATA/logs
mkdir -p "$LOGS"
pids=()

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping riskpipe..."
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  echo "stopped; data kept in $DATA (logs in $LOGS)"
}
trap stop_all INT TERM EXIT

"$BIN/riskpipe-state" --data "$DATA/state" 2>>"$LOGS/state.log" &
pids+=($!)
"$BIN/riskpipe-reducer" --data "$DATA/reducer" 2>>"$LOGS/reducer.log" &
pids+=($!)
for i in $(seq 1 "$MAPPERS"); do
  "$BIN/riskpipe-mapper" 2>>"$LOGS/mapper$i.log" &
  pids+=($!)
done
for p in state reducer; do
  for _ in $(seq 1 50); do "$BIN/riskctl" ping "$p" >/dev/null 2>&1 && break; sleep 0.1; done
done
echo "riskpipe running: state, $MAPPERS mapper(s), reducer (logs in $LOGS)"

echo "sending a demo workload of $DEMO_COUNT messages..."
"$BIN/riskctl" gen --count "$DEMO_COUNT" --seed "$RANDOM" | "$BIN/riskctl" send
"$BIN/riskctl" wait --timeout 120
echo
"$BIN/riskctl" query | head -40
echo "(first 40 rows; 'bin/riskctl query' for all, 'bin/riskctl stats' for counters)"
"$BIN/riskctl" verify
echo
echo "pipeline is running; send more with: bin/riskctl gen --count 1000 | bin/riskctl send"
echo "press Ctrl-C to stop"
wait
