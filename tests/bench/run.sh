#!/usr/bin/env bash
# The bench suite: the tools `make bench` stands on, on small inputs, so that
# they cannot rot between benchmark runs. Each check prints PASS or FAIL; the
# last line is "N passed, M failed" (tests/run-all.sh reads it). The
# PostgreSQL and Redis peers run only where their packages are installed
# (make bench-peers-deps); elsewhere they are reported as SKIPPED, not passed.
set -u
cd "$(dirname "$0")/../.."
BIN=${RISKPIPE_BIN:-$PWD/bin}
export BIN
T=$(mktemp -d /tmp/riskpipe-bench-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
# Ports of their own, apart from the other suites' (tests/lib/ports.sh).
. tests/lib/ports.sh
pick_ports 16000 200 10 || exit 1
export BENCH_PORT_BASE=$BASE
pick_ports 24000 100 30 || exit 1 # bench/shards.sh and the reducer ceiling's
SHARD_BASE=$BASE
passed=0 failed=0

check() { # name command...: PASS when the command exits 0
  local name=$1
  shift
  if "$@" >"$T/$name.out" 2>&1; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name:"
    tail -n 15 "$T/$name.out" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}

"$BIN/riskctl" gen --count 20000 --trades 16000 --seed 3 --modify 5 --move 5 --dup 5 --ooo 5 \
  >"$T/w.jsonl"
ids() { cut -d'"' -f4 "$1"; }
distinct=$(ids "$T/w.jsonl" | sort -u | wc -l)

# riskctl gen: UUIDs by default, the same lines as --sequential-ids but for
# the TradeID, one UUID per trade and one trade per UUID, and the same output
# for the same seed.
gen_ids() {
  "$BIN/riskctl" gen --count 20000 --trades 16000 --seed 3 --modify 5 --move 5 --dup 5 --ooo 5 \
    --sequential-ids >"$T/seq.jsonl" || return 1
  local bad
  bad=$(ids "$T/w.jsonl" | grep -cvE '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')
  [ "$bad" = 0 ] || { echo "$bad TradeIDs are not version-4 UUIDs"; return 1; }
  paste -d' ' <(ids "$T/seq.jsonl") <(ids "$T/w.jsonl") | sort -u >"$T/pairs"
  [ "$(wc -l <"$T/pairs")" = "$(cut -d' ' -f1 "$T/pairs" | sort -u | wc -l)" ] &&
    [ "$(wc -l <"$T/pairs")" = "$(cut -d' ' -f2 "$T/pairs" | sort -u | wc -l)" ] ||
    { echo "sequential ids and UUIDs do not pair one to one"; return 1; }
  grep -qE '^T3-[0-9]{8} ' "$T/pairs" || { echo "--sequential-ids lost the T<seed>-<n> form"; return 1; }
  cmp -s <(sed -E 's/"TradeID":"[^"]*"//' "$T/seq.jsonl") <(sed -E 's/"TradeID":"[^"]*"//' "$T/w.jsonl") ||
    { echo "the lines differ beyond their TradeIDs"; return 1; }
  "$BIN/riskctl" gen --count 20000 --trades 16000 --seed 3 --modify 5 --move 5 --dup 5 --ooo 5 |
    cmp -s - "$T/w.jsonl" || { echo "the same seed printed other lines"; return 1; }
}
check gen_uuid_ids_pair_with_sequential_ids gen_ids

# bench-ceiling: the state engine alone keeps one row per distinct trade.
ceiling() {
  mkdir -p "$T/ceil"
  local line
  line=$("$BIN/bench-ceiling" "$T/w.jsonl" --data "$T/ceil" --group 4) || return 1
  echo "$line"
  [[ "$line" == *"msgs=20000 "* && "$line" == *"rejected=0"* ]] || return 1
  local rows
  rows=$(mdb_stat -s state "$T/ceil" | awk '/Entries/ {print $NF}')
  [ "$rows" = "$distinct" ] || { echo "state rows $rows, distinct TradeIDs $distinct"; return 1; }
  "$BIN/bench-ceiling" "$T/w.jsonl" --group 0 --data "$T/ceil" && return 1 # usage error
  return 0
}
check ceiling_keeps_one_row_per_trade ceiling

# bench/riskpipe.sh: a verified run whose live trades are the distinct ids.
riskpipe_run() {
  local line
  line=$(bench/riskpipe.sh "$T/w.jsonl") || return 1
  echo "$line"
  [[ "$line" == *"msgs=20000 "* && "$line" == *"live_trades=$distinct"* ]]
}
check riskpipe_run_is_verified_and_counts_live_trades riskpipe_run

# bench/shards.sh: a verified run of two state shards, on ports of its own
# (shard i at +5 i, the reducer at +10), with every kind's CPU seconds.
shards_run() {
  local line
  line=$(BENCH_PORT_BASE=$SHARD_BASE bench/shards.sh 2 "$T/w.jsonl") || return 1
  echo "$line"
  [[ "$line" == "shards=2 "*" msgs=20000 "* && "$line" == *" cpu_state="[0-9]* &&
     "$line" == *" batches="[1-9]* ]]
}
check shards_run_is_verified_across_two_shards shards_run

# bench-reducer-ceiling: a fresh reducer applies and acknowledges every frame.
reducer_ceiling() {
  "$BIN/riskpipe-reducer" --data "$T/rceil" --results "tcp://127.0.0.1:$((SHARD_BASE + 20))" \
    --acks "tcp://127.0.0.1:$((SHARD_BASE + 21))" --control "tcp://127.0.0.1:$((SHARD_BASE + 22))" \
    --http "" 2>"$T/rceil.log" &
  local pid=$! line rc=0
  line=$("$BIN/bench-reducer-ceiling" --results "tcp://127.0.0.1:$((SHARD_BASE + 20))" \
    --acks "tcp://127.0.0.1:$((SHARD_BASE + 21))" --frames 300) || rc=1
  kill -TERM $pid && wait $pid
  echo "$line"
  [ $rc = 0 ] && [[ "$line" == "frames=300 "*"frames_per_s="[1-9]* ]] &&
    [ "$(mdb_stat -s aggregate "$T/rceil" | awk '/Entries/ {print $NF}')" -gt 0 ]
}
check reducer_ceiling_applies_every_frame reducer_ceiling

# bench/latency.sh: every sample seen, the probe rows exact (it checks them).
latency() {
  SAMPLES=30 BURST=1000 LOAD_RATE=5000 bench/latency.sh >"$T/lat.txt" || return 1
  cat "$T/lat.txt"
  [ "$(grep -c 'failures=0' "$T/lat.txt")" = 3 ]
}
check latency_tool_sees_every_probe latency

# bench/http_cost.sh: one run each way; the watched run's SSE client really
# followed the stream (BENCH_METRICS_OUT shows the scrape), and the table
# compares both.
http_cost() {
  RUNS=1 SAMPLES=20 bench/http_cost.sh "$T/w.jsonl" >"$T/cost.txt" 2>&1 || { tail -5 "$T/cost.txt"; return 1; }
  grep -E '^\| (msg/s|idle visible_p99_ms|load20k visible_p99_ms) \| [0-9.]+ \| [0-9.]+ \|' "$T/cost.txt" || return 1
  [ "$(grep -c "^| " "$T/cost.txt")" -ge 6 ]
}
check http_cost_compares_off_and_watched http_cost

# bench/report.py: medians and the ratio to the faster peer, from result
# lines whose rates are known: riskpipe 400/s (runs of 2.5, 2 and 4 s over
# 1000 messages: median 2.5 s), PostgreSQL 100/s, Redis 250/s.
report() {
  cat >"$T/res.txt" <<'EOF'
riskpipe seconds=2.5 msgs=1000 state_rss_mb=9 state_anon_mb=5 reducer_rss_mb=8 reducer_anon_mb=1 mapper_rss_mb=8 mapper_anon_mb=1 state_disk_bytes=100 state_used_bytes=50 live_trades=10
riskpipe seconds=2 msgs=1000 state_rss_mb=9 state_anon_mb=6 reducer_rss_mb=8 reducer_anon_mb=1 mapper_rss_mb=8 mapper_anon_mb=1 state_disk_bytes=100 state_used_bytes=50 live_trades=10
riskpipe seconds=4 msgs=1000 state_rss_mb=9 state_anon_mb=5 reducer_rss_mb=8 reducer_anon_mb=1 mapper_rss_mb=8 mapper_anon_mb=1 state_disk_bytes=100 state_used_bytes=50 live_trades=10
pg seconds=10 msgs=1000 verified=yes bytes=1000
redis seconds=4 msgs=1000 verified=yes bytes=500
shards shards=1 seconds=2 msgs=1000 msgps=500 cpu_state=0.5 cpu_writer=0.25 cpu_mappers=0.1 cpu_reducer=0.1 cpu_send=0.3 batches=10
shards shards=2 seconds=2 msgs=1000 msgps=500 cpu_state=0.6 cpu_writer=0.4 cpu_mappers=0.1 cpu_reducer=0.1 cpu_send=0.3 batches=12
reducer_ceiling frames=100 seconds=1 frames_per_s=100 changes_per_s=102400
EOF
  local out want
  out=$(python3 bench/report.py "$T/res.txt") || return 1
  echo "$out"
  want=$(awk 'BEGIN { printf "%.2fx", (1000 / 2.5) / (1000 / 4) }')
  grep -q "riskpipe / faster peer: $want" <<<"$out" || { echo "want ratio $want"; return 1; }
  grep -q "| state | 9 | 6 |" <<<"$out" || { echo "want the state's largest memory figures"; return 1; }
  # K=1: 250 CPU-us per message in the state's writer thread: 4k msg/s per
  # shard; the reducer ceiling: 100 frames/s of 1000 / 10 = 100 messages:
  # 10k msg/s
  grep -q "| 1 | 4k | the state shards |" <<<"$out" &&
    grep -q "| 2 | 8k | the state shards |" <<<"$out" &&
    grep -q "| 4 | 10k | the reducer |" <<<"$out" || { echo "want the K-host model"; return 1; }
  # K=2: 600 + 100 + 100 + 300 = 1100 CPU-us per message on the machine's
  # cores, or the two writer threads' 400 on min(2, cores) cores
  local cores pred
  cores=$(nproc)
  pred=$(awk -v c="$cores" 'BEGIN { a = (c < 2 ? c : 2) * 1e6 / 400; b = c * 1e6 / 1100;
                                     printf "%.0fk", (a < b ? a : b) / 1000 }')
  grep -qF "| 2 | 1 | 2.00 | 0k | 0k - 0k | 600.00 (400.00), 100.00, 100.00, 300.00 | $pred | 12 |" <<<"$out" ||
    { echo "want the K=2 row, predicted $pred"; return 1; }
}
check report_gives_the_ratio_to_the_faster_peer report

# The peers, where their packages are installed.
if [ -x /usr/lib/postgresql/15/bin/initdb ] && pkg-config --exists libpq 2>/dev/null; then
  check pg_peer_is_verified bash -c 'bench/pg.sh "$0" | grep -q "verified=yes"' "$T/w.jsonl"
else
  echo "SKIPPED pg_peer_is_verified: PostgreSQL 15 or libpq-dev not installed (make bench-peers-deps)"
fi
if command -v redis-server >/dev/null && pkg-config --exists hiredis 2>/dev/null; then
  check redis_peer_is_verified bash -c 'bench/redis.sh "$0" | grep -q "verified=yes"' "$T/w.jsonl"
else
  echo "SKIPPED redis_peer_is_verified: redis-server or libhiredis-dev not installed (make bench-peers-deps)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
