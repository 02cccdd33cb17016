#!/usr/bin/env bash
# One riskpipe run of `make bench`: starts state, $MAPPERS mappers and the
# reducer with their default flags on empty data directories, sends FILE with
# `riskctl send` (default flags), waits until every change is aggregated, and
# checks the totals with `riskctl verify` against the state table.
# Prints one line of key=value pairs:
#   seconds  first byte sent until `riskctl wait` returned
#   msgs     lines in FILE
#   {state,reducer,mapper}_rss_mb   peak resident set (VmHWM: private memory
#            plus the LMDB map pages the process touched, which are the
#            kernel's page cache, shared and evictable)
#   {state,reducer,mapper}_anon_mb  peak private (anonymous) memory, sampled
#            every 100 ms
#   state_disk_bytes  the state directory on disk (du); with MDB_WRITEMAP it is
#            the reserved map, a power-of-two step above what is used
#   state_used_bytes  LMDB pages in use (mdb_stat), live_trades  state rows
# Usage: bench/riskpipe.sh FILE [more riskctl send flags...]
# Environment: BIN (bin), MAPPERS (2), BENCH_TMP (/tmp), BENCH_PORT_BASE (see
# bench/pipeline.sh), BENCH_METRICS_OUT (a directory: the state's and the
# reducer's /metrics at the end of the run go to state.prom and reducer.prom
# there), BENCH_HTTP and BENCH_WATCH (bench/pipeline.sh).
# Exit status: 0 verified, 1 the run or the verification failed, 2 usage.
set -euo pipefail
[ $# -ge 1 ] && [ -r "$1" ] || { echo "usage: bench/riskpipe.sh FILE [send flags...]" >&2; exit 2; }
FILE=$(realpath "$1"); shift
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
MAPPERS=${MAPPERS:-2}
DIR=$(mktemp -d "${BENCH_TMP:-/tmp}/riskpipe-bench.XXXXXX")
me=bench/riskpipe.sh
. bench/pipeline.sh
sampler=""
cleanup() {
  if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; fi
  pipeline_stop
  rm -rf "$DIR"
}
trap cleanup EXIT
pipeline_start || exit 1

# Peak anonymous memory of each daemon, sampled while the run lasts, with
# shell builtins only: a process started per sample would take CPU from the
# run it measures (the peers run with no sampler at all).
daemons=("${pids[@]}")
mkfifo "$DIR/tick"
(
  exec 3<>"$DIR/tick" # nothing is ever written: read -t on it is a sleep
  while kill -0 $$ 2>/dev/null; do # not a moment past this script
    for p in "${daemons[@]}"; do
      while read -r k v _; do
        if [ "$k" = RssAnon: ]; then echo "$p $v"; break; fi
      done <"/proc/$p/status" 2>/dev/null || true
    done
    read -r -t 0.1 -u 3 _ || true
  done
) >"$DIR/anon.txt" &
sampler=$!

t0=$(date +%s.%N)
if ! "$BIN/riskctl" send "$FILE" --quiet --ingest "$INGEST" "$@" >"$DIR/send.txt" 2>&1; then
  echo "bench/riskpipe.sh: riskctl send failed:" >&2; tail -5 "$DIR/send.txt" >&2; exit 1
fi
"$BIN/riskctl" wait --timeout 3600 --state-control "$SCTL" >/dev/null
t1=$(date +%s.%N)
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true

if ! "$BIN/riskctl" verify --state-data "$DIR/state" --reducer-data "$DIR/reducer" >"$DIR/verify.txt" 2>&1; then
  echo "bench/riskpipe.sh: riskctl verify failed:" >&2; cat "$DIR/verify.txt" >&2; exit 1
fi

if [ -n "${BENCH_METRICS_OUT:-}" ] && [ "${BENCH_HTTP:-on}" != off ]; then
  mkdir -p "$BENCH_METRICS_OUT"
  curl -sf --max-time 10 "http://${http_state[0]}/metrics" >"$BENCH_METRICS_OUT/state.prom" || true
  curl -sf --max-time 10 "http://${http_reducer[0]}/metrics" >"$BENCH_METRICS_OUT/reducer.prom" || true
fi

hwm() { awk '/^VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo 0; }
anon() { awk -v p="$1" '$1 == p && $2 > m {m = $2} END {printf "%d", m / 1024}' "$DIR/anon.txt"; }
mrss=0 manon=0
for ((i = 2; i < ${#pids[@]}; i++)); do
  r=$(hwm "${pids[$i]}"); ((r > mrss)) && mrss=$r
  a=$(anon "${pids[$i]}"); ((a > manon)) && manon=$a
done
pages=$(mdb_stat -e "$DIR/state" | awk '/Number of pages used/ {print $NF}')
psize=$(mdb_stat -e "$DIR/state" | awk '/Page size/ {print $NF}')
live=$(mdb_stat -s state "$DIR/state" | awk '/Entries/ {print $NF}')
echo "seconds=$(echo "$t1 - $t0" | bc -l | sed 's/^\./0./') msgs=$(wc -l <"$FILE")" \
  "state_rss_mb=$(hwm "${pids[0]}") state_anon_mb=$(anon "${pids[0]}")" \
  "reducer_rss_mb=$(hwm "${pids[1]}") reducer_anon_mb=$(anon "${pids[1]}")" \
  "mapper_rss_mb=$mrss mapper_anon_mb=$manon" \
  "state_disk_bytes=$(du -sb "$DIR/state" | cut -f1) state_used_bytes=$((pages * psize))" \
  "live_trades=$live"
