#!/usr/bin/env bash
# One sharded riskpipe run of `make bench` (issue 10, point 2): K state shards
# (each --shard i --shards K with its own data directory and ports), one
# reducer with --shards K, $MAPPERS mappers pulling from every shard, all with
# default flags otherwise; `riskctl send` routes FILE over the K shards, then
# `riskctl wait` on every shard, then `riskctl verify` across them.
# Prints one line of key=value pairs:
#   shards=K seconds (first byte sent until wait returned) msgs msgps
#   cpu_state cpu_mappers cpu_reducer cpu_send: CPU seconds (user + system)
#   cpu_writer: of cpu_state, the CPU seconds of the states' main threads (the
#            LMDB writers; each state also decodes on a second thread)
#            each kind of process used in the run (states and mappers summed)
#   batches  RESULT frames the reducer applied
# Usage: bench/shards.sh K FILE. Environment: BIN (bin), MAPPERS (2),
# BENCH_TMP (/tmp), BENCH_PORT_BASE (default 7000: shard i uses base + 5 i
# .. + 4, the reducer base + 5 K and + 1). Exit 0 verified; 1 failed; 2 usage.
set -euo pipefail
[ $# -eq 2 ] && [ "$1" -ge 1 ] 2>/dev/null && [ -r "$2" ] || {
  echo "usage: bench/shards.sh K FILE" >&2; exit 2; }
K=$1
FILE=$(realpath "$2")
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
MAPPERS=${MAPPERS:-2}
base=${BENCH_PORT_BASE:-7000}
DIR=$(mktemp -d "${BENCH_TMP:-/tmp}/riskpipe-shards.XXXXXX")
ep() { echo "tcp://127.0.0.1:$1"; }
join() { local IFS=,; echo "$*"; }
ingest=() work=() acks=() ctl=() data=()
for ((i = 0; i < K; i++)); do
  p=$((base + 5 * i))
  ingest+=("$(ep $p)") work+=("$(ep $((p + 2)))") acks+=("$(ep $((p + 3)))")
  ctl+=("$(ep $((p + 4)))") data+=("$DIR/state$i")
done
RESULTS=$(ep $((base + 5 * K))) RCTL=$(ep $((base + 5 * K + 1)))
states=() mappers=() reducer=""
cleanup() {
  for p in "${mappers[@]}" $reducer "${states[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
for ((i = 0; i < K; i++)); do
  p=$((base + 5 * i))
  "$BIN/riskpipe-state" --data "$DIR/state$i" --shard $i --shards "$K" --ingest "$(ep $p)" \
    --ingest-pull "$(ep $((p + 1)))" --work "$(ep $((p + 2)))" --acks "$(ep $((p + 3)))" \
    --control "$(ep $((p + 4)))" --http "" >/dev/null 2>"$DIR/state$i.log" &
  states+=($!)
done
"$BIN/riskpipe-reducer" --data "$DIR/reducer" --shards "$K" --results "$RESULTS" \
  --acks "$(join "${acks[@]}")" --control "$RCTL" --http "" >/dev/null 2>"$DIR/reducer.log" &
reducer=$!
for c in "${ctl[@]}"; do
  for _ in $(seq 1 100); do
    "$BIN/riskctl" ping state --state-control "$c" >/dev/null 2>&1 && break
    sleep 0.05
  done
done
"$BIN/riskctl" ping reducer --reducer-control "$RCTL" >/dev/null 2>&1 || sleep 1
for ((m = 0; m < MAPPERS; m++)); do
  "$BIN/riskpipe-mapper" --work "$(join "${work[@]}")" --results "$RESULTS" >/dev/null \
    2>"$DIR/mapper$m.log" &
  mappers+=($!)
done
# CPU seconds (user + system) a process has used so far
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }
TIMEFORMAT='%U %S'
t0=$(date +%s.%N)
{ time "$BIN/riskctl" send "$FILE" --quiet --ingest "$(join "${ingest[@]}")" \
    >"$DIR/send.txt" 2>&1; } 2>"$DIR/send.time" || {
  echo "bench/shards.sh: riskctl send failed:" >&2; tail -5 "$DIR/send.txt" >&2; exit 1; }
"$BIN/riskctl" wait --timeout 3600 --state-control "$(join "${ctl[@]}")" >/dev/null
t1=$(date +%s.%N)
cs=0 cm=0
cw=0
for p in "${states[@]}"; do
  cs=$(awk -v a="$cs" -v b="$(cpu "$p")" 'BEGIN { printf "%.3f", a + b }')
  cw=$(awk -v a="$cw" -v b="$(cpu "$p/task/$p")" 'BEGIN { printf "%.3f", a + b }')
done
for p in "${mappers[@]}"; do cm=$(awk -v a="$cm" -v b="$(cpu "$p")" 'BEGIN { printf "%.3f", a + b }'); done
cr=$(cpu "$reducer")
csend=$(awk '{ printf "%.3f", $1 + $2 }' "$DIR/send.time")
batches=$("$BIN/riskctl" stats --state-control "${ctl[0]}" --reducer-control "$RCTL" 2>/dev/null |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["reducer"]["batches_applied"])')
if ! "$BIN/riskctl" verify --state-data "$(join "${data[@]}")" --reducer-data "$DIR/reducer" \
  >"$DIR/verify.txt" 2>&1; then
  echo "bench/shards.sh: riskctl verify failed:" >&2; cat "$DIR/verify.txt" >&2; exit 1
fi
secs=$(echo "$t1 - $t0" | bc -l | sed 's/^\./0./')
msgs=$(wc -l <"$FILE")
echo "shards=$K seconds=$secs msgs=$msgs msgps=$(echo "$msgs / $secs" | bc) cpu_state=$cs" \
  "cpu_writer=$cw cpu_mappers=$cm cpu_reducer=$cr cpu_send=$csend batches=$batches"
