#!/usr/bin/env bash
# One riskpipe run for `make bench`: starts state, $MAPPERS mappers and the
# reducer with default flags on empty data directories, sends FILE with
# `riskctl send` (default flags), waits until every change is aggregated,
# checks the totals with `riskctl verify`, and stops everything.
# Prints one line: "seconds=S msgs=N state_rss_kb=K reducer_rss_kb=K mapper_rss_kb=K
# state_bytes=B reducer_bytes=B".
# Usage: bench/riskpipe.sh FILE [extra riskctl send flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
MAPPERS=${MAPPERS:-2}
FILE=$1; shift
DIR=$(mktemp -d "${BENCH_TMP:-/tmp}/riskpipe-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

"$BIN/riskpipe-state" --data "$DIR/state" 2>"$DIR/state.log" & pids+=($!)
"$BIN/riskpipe-reducer" --data "$DIR/reducer" 2>"$DIR/reducer.log" & pids+=($!)
for i in $(seq 1 "$MAPPERS"); do "$BIN/riskpipe-mapper" 2>"$DIR/mapper$i.log" & pids+=($!); done
for p in state reducer; do
  for _ in $(seq 1 100); do "$BIN/riskctl" ping "$p" >/dev/null 2>&1 && break; sleep 0.05; done
done

# Peak resident set of each process, sampled every 100 ms while it runs.
peak() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

t0=$(date +%s.%N)
"$BIN/riskctl" send "$FILE" --quiet "$@" >"$DIR/send.txt"
"$BIN/riskctl" wait --timeout 600 >/dev/null
t1=$(date +%s.%N)
"$BIN/riskctl" verify --state-data "$DIR/state" --reducer-data "$DIR/reducer" >"$DIR/verify.txt" || { cat "$DIR/verify.txt" >&2; exit 1; }
msgs=$(wc -l <"$FILE")
srss=$(peak "${pids[0]}"); rrss=$(peak "${pids[1]}"); mrss=0
for ((i = 2; i < ${#pids[@]}; i++)); do r=$(peak "${pids[$i]}"); ((r > mrss)) && mrss=$r; done
sbytes=$(du -sb "$DIR/state" | cut -f1); rbytes=$(du -sb "$DIR/reducer" | cut -f1)
echo "seconds=$(echo "$t1 - $t0" | bc -l | sed 's/^\./0./') msgs=$msgs state_rss_kb=$srss reducer_rss_kb=$rrss mapper_rss_kb=$mrss state_bytes=$sbytes reducer_bytes=$rbytes"
