#!/usr/bin/env bash
# The latency runs of `make bench`: starts state, $MAPPERS mappers and the
# reducer on empty data directories in a temporary directory, then times with
# bin/bench-latency (a) single messages on an idle pipeline, (b) the same
# under `riskctl gen | riskctl send` paced to $LOAD_RATE msg/s, and (c) a
# burst of $BURST messages, and stops everything. After (a) it checks the
# probe rows with `riskctl query`. Prints three lines, "idle: ...",
# "load20k: ..." and "burst: ..." (bench-latency's summaries); exits non-zero
# when any step failed. The load line ends with load_rate=, the messages per
# second the background load had answered while it ran.
# Environment: BIN (bin), MAPPERS (2), SAMPLES (300), BURST (10000),
# LOAD_RATE (20000), BENCH_TMP (/tmp), BENCH_PORT_BASE (5555: ports
# BASE..BASE+8, see bench/pipeline.sh), SAMPLES_OUT
# (a directory: each sample's times go to idle.txt and load20k.txt there).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
MAPPERS=${MAPPERS:-2}
SAMPLES=${SAMPLES:-300}
BURST=${BURST:-10000}
LOAD_RATE=${LOAD_RATE:-20000}
DIR=$(mktemp -d "${BENCH_TMP:-/tmp}/riskpipe-latency.XXXXXX")
me=latency.sh
. bench/pipeline.sh
gen_pid="" send_pid=""
cleanup() {
  for p in $gen_pid $send_pid; do kill -TERM "$p" 2>/dev/null || true; done
  pipeline_stop
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pipeline_start || exit 1

probe() { "$BIN/bench-latency" --ingest "$INGEST" --reducer-data "$DIR/reducer" "$@"; }
status=0
# one message through to the aggregate: the mappers are connected and warm
if ! probe --samples 1 --region Warmup >/dev/null; then
  echo "latency.sh: the pipeline does not carry a first message; logs:" >&2
  tail -n 3 "$DIR"/*.log >&2
  exit 1
fi

# (a) idle, then the probe rows checked by another reader
idle_out=() load_out=()
if [ -n "${SAMPLES_OUT:-}" ]; then
  mkdir -p "$SAMPLES_OUT"
  idle_out=(--samples-out "$SAMPLES_OUT/idle.txt")
  load_out=(--samples-out "$SAMPLES_OUT/load20k.txt")
fi
if idle=$(probe --samples "$SAMPLES" --region Idle "${idle_out[@]}"); then :; else status=1; fi
if ! "$BIN/riskctl" query Latency::Idle --json --reducer-data "$DIR/reducer" >"$DIR/idle.json"
then
  status=1
elif ! python3 - "$DIR/idle.json" "$SAMPLES" <<'EOF'
import json, sys
from decimal import Decimal
rows = {r["path"]: r for r in json.load(open(sys.argv[1]))}
n = int(sys.argv[2])
want = {"Latency::Idle": (n, Decimal("1.5") * n)}
desks = sum(r["count"] for p, r in rows.items() if p.count("::") == 2)
bad = [f"{p}: count {rows.get(p, {}).get('count')} value {rows.get(p, {}).get('value')}, "
       f"expected {c} and {v}" for p, (c, v) in want.items()
       if p not in rows or rows[p]["count"] != c or Decimal(rows[p]["value"]) != v]
if desks != n:
    bad.append(f"the desk rows under Latency::Idle count {desks}, expected {n}")
for b in bad:
    print("latency.sh: probe rows wrong after the idle run: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
then status=1; fi

# (b) under load: gen writes into a fifo so that stopping gen alone lets
# send finish its frames and exit by itself
mkfifo "$DIR/load.fifo"
"$BIN/riskctl" gen --count 0 --rate "$LOAD_RATE" --seed 5 >"$DIR/load.fifo" 2>"$DIR/gen.log" &
gen_pid=$!
"$BIN/riskctl" send "$DIR/load.fifo" --quiet --ingest "$INGEST" >"$DIR/send.txt" \
  2>"$DIR/send.log" &
send_pid=$!
t_load=$(date +%s.%N)
sleep 1
if ! kill -0 "$send_pid" 2>/dev/null; then
  echo "latency.sh: the background load stopped early:" >&2
  cat "$DIR/send.log" >&2
  status=1
fi
if load=$(probe --samples "$SAMPLES" --region Load "${load_out[@]}"); then :; else status=1; fi
kill -TERM "$gen_pid" 2>/dev/null || true
t_load=$(echo "$(date +%s.%N) - $t_load" | bc -l)
wait "$gen_pid" 2>/dev/null || true
if ! wait "$send_pid"; then
  echo "latency.sh: the background load failed:" >&2
  cat "$DIR/send.log" >&2
  status=1
fi
gen_pid="" send_pid=""
# what the load really offered: messages the state answered (accepted,
# duplicates and rejected: gen re-sends some on purpose) over the time it ran
sent=$(awk -F'[= ]' '/^accepted=/ {print $2 + $4 + $8}' "$DIR/send.txt")
load="$load load_rate=$(echo "${sent:-0} / $t_load" | bc)"
if ! "$BIN/riskctl" wait --timeout 60 --state-control "$SCTL" >/dev/null; then
  echo "latency.sh: the pipeline did not catch up with the load" >&2
  status=1
fi

# (c) burst, on a pipeline that has caught up with the load
if burst=$(probe --burst "$BURST" --region Burst); then :; else status=1; fi

echo "idle: $idle"
echo "load20k: $load"
echo "burst: $burst"
exit "$status"
