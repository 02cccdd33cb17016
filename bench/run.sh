#!/usr/bin/env bash
# `make bench`: riskpipe against the two obvious alternatives on the same
# messages, on this machine, in one go.
#  1. Generates BENCH_COUNT messages in the seed's form with UUID TradeIDs:
#     80 % new trades, 5 % re-valuations, 5 % moves, 5 % duplicates, 5 %
#     stale versions (riskctl gen --seed 7).
#  2. Runs, in alternation, BENCH_RUNS times each: riskpipe with default flags
#     and 2 mappers (bench/riskpipe.sh), the PostgreSQL peer (bench/pg.sh) and
#     the Redis peer (bench/redis.sh). Every run is verified exact; a failed
#     verification stops the benchmark.
#  3. The raw LMDB ceiling: the state's own engine with no IPC
#     (bench-ceiling, commits of 256 frames of 1000 messages, fsynced).
#  4. Latency (bench/latency.sh, BENCH_RUNS times): idle, under 20k msg/s,
#     a 10k burst; the table has the medians and ranges.
#  5. State shards: bench/shards.sh for K = BENCH_SHARDS (1 2 4), BENCH_RUNS
#     times each in alternation, on the same file; and the reducer's own
#     ceiling (bench-reducer-ceiling against a fresh reducer), BENCH_RUNS times.
#  6. Growth (BENCH_SCALE=1, the default): riskpipe once each on 5M messages
#     over 1M and over 4M trades, and on 10M messages over 8M trades.
# Prints one table per part; BENCH_OUT (default bench/results.txt) keeps the
# raw result lines. Usage: make bench, or bench/run.sh after `make all
# bench-peers bin/bench-ceiling`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
RUNS=${BENCH_RUNS:-3}
COUNT=${BENCH_COUNT:-1000000}
SCALE=${BENCH_SCALE:-1}
OUT=${BENCH_OUT:-bench/results.txt}
TMP=$(mktemp -d "${BENCH_TMP:-/tmp}/riskpipe-run.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export BIN

gen() { # gen COUNT TRADES FILE
  "$BIN/riskctl" gen --count "$1" --trades "$2" --seed 7 --modify 5 --move 5 --dup 5 --ooo 5 >"$3"
}

: >"$OUT"
echo "riskpipe bench: $(date -u +%FT%TZ), $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo '?')" | tee -a "$OUT"
FILE=$TMP/work.jsonl
gen "$COUNT" $((COUNT * 8 / 10)) "$FILE"
echo "workload: $COUNT messages, $(cut -d'"' -f4 "$FILE" | sort -u | wc -l) distinct TradeIDs (UUIDs)" | tee -a "$OUT"

for r in $(seq 1 "$RUNS"); do
  for sys in riskpipe pg redis; do
    echo "run $r/$RUNS: $sys..." >&2
    sync # the previous run's writeback must not land in this one's fsyncs
    line=$("bench/$sys.sh" "$FILE") || { echo "bench: $sys run $r failed" >&2; exit 1; }
    echo "$sys $line" | tee -a "$OUT" >&2
  done
done

for r in $(seq 1 "$RUNS"); do
  rm -rf "$TMP/ceiling" && mkdir "$TMP/ceiling" && sync
  line=$("$BIN/bench-ceiling" "$FILE" --data "$TMP/ceiling" --group 256)
  echo "ceiling $line" | tee -a "$OUT" >&2
done
rm -rf "$TMP/ceiling"

if [ -x bench/latency.sh ]; then
  for r in $(seq 1 "$RUNS"); do
    echo "latency run $r/$RUNS..." >&2
    sync
    bench/latency.sh | sed 's/^/latency /' | tee -a "$OUT" >&2
  done
fi

# The reducer alone: RESULT frames as fast as it applies them.
reducer_ceiling() {
  local d=$TMP/rceil p=$((${BENCH_PORT_BASE:-7000} - 200))
  rm -rf "$d" && mkdir -p "$d" && sync
  "$BIN/riskpipe-reducer" --data "$d" --results "tcp://127.0.0.1:$((p + 200))" \
    --acks "tcp://127.0.0.1:$((p + 201))" --control "tcp://127.0.0.1:$((p + 202))" --http "" \
    >/dev/null 2>"$TMP/rceil.log" &
  local pid=$!
  local line rc=0
  line=$("$BIN/bench-reducer-ceiling" --results "tcp://127.0.0.1:$((p + 200))" \
    --acks "tcp://127.0.0.1:$((p + 201))" --frames "${BENCH_REDUCER_FRAMES:-20000}") || rc=1
  kill -TERM "$pid" && wait "$pid" || true
  rm -rf "$d"
  [ $rc = 0 ] && echo "$line"
}

for r in $(seq 1 "$RUNS"); do
  for kk in ${BENCH_SHARDS:-1 2 4}; do
    echo "shards run $r/$RUNS: K=$kk..." >&2
    sync
    line=$(bench/shards.sh "$kk" "$FILE") || { echo "bench: shards K=$kk run $r failed" >&2; exit 1; }
    echo "shards $line" | tee -a "$OUT" >&2
  done
  line=$(reducer_ceiling) || { echo "bench: reducer ceiling run $r failed" >&2; exit 1; }
  echo "reducer_ceiling $line" | tee -a "$OUT" >&2
done

if [ "$SCALE" = 1 ]; then
  rm -f "$FILE"
  for spec in 5000000:1000000 5000000:4000000 10000000:8000000; do
    n=${spec%%:*} t=${spec##*:}
    echo "growth: $n messages over $t trades..." >&2
    gen "$n" "$t" "$TMP/grow.jsonl" && sync
    line=$(bench/riskpipe.sh "$TMP/grow.jsonl") || { echo "bench: growth run $spec failed" >&2; exit 1; }
    echo "growth trades=$t $line" | tee -a "$OUT" >&2
    rm -f "$TMP/grow.jsonl"
  done
fi

python3 bench/report.py "$OUT"
