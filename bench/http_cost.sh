#!/usr/bin/env bash
# What the HTTP servers cost: the same runs with HTTP off (--http "" on state
# and reducer) and on while watched (both daemons' /metrics scraped every
# second and one client following the reducer's /v1/stream), in alternation,
# RUNS times each: throughput with bench/riskpipe.sh on FILE (default: 1M
# messages of `make bench`'s form) and latency with bench/latency.sh (idle
# and at 20k msg/s). Prints one line per run and, last, a table of medians.
# Usage: bench/http_cost.sh [FILE]   Environment: RUNS (3), BIN, BENCH_TMP,
# BENCH_PORT_BASE, SAMPLES (for latency.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
RUNS=${RUNS:-3}
TMP=$(mktemp -d "${BENCH_TMP:-/tmp}/riskpipe-httpcost.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FILE=${1:-}
if [ -z "$FILE" ]; then
  FILE=$TMP/bench.jsonl
  "$BIN/riskctl" gen --count 1000000 --trades 800000 --seed 7 --modify 5 --move 5 --dup 5 \
    --ooo 5 >"$FILE"
fi
OUT=$TMP/runs.txt
: >"$OUT"
for r in $(seq 1 "$RUNS"); do
  for mode in off on; do
    if [ "$mode" = off ]; then env=(BENCH_HTTP=off); else env=(BENCH_WATCH=1); fi
    sync
    line=$(env "${env[@]}" bench/riskpipe.sh "$FILE") || { echo "http_cost: run failed" >&2; exit 1; }
    echo "run $r http=$mode throughput $line" | tee -a "$OUT"
    lat=$(env "${env[@]}" bench/latency.sh | tr '\n' ' ') || { echo "http_cost: latency failed" >&2; exit 1; }
    echo "run $r http=$mode latency $lat" | tee -a "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import re, statistics, sys
runs = {"off": {}, "on": {}}
for line in open(sys.argv[1]):
    m = re.match(r"run \d+ http=(\w+) (\w+) (.*)", line)
    if not m:
        continue
    mode, kind, rest = m.groups()
    d = runs[mode]
    if kind == "throughput":
        kv = dict(x.split("=", 1) for x in rest.split() if "=" in x)
        d.setdefault("msg/s", []).append(float(kv["msgs"]) / float(kv["seconds"]))
    else:
        for part in ("idle", "load20k"):
            seg = re.search(part + r":(.*?)(?= \w+:|$)", rest)
            if not seg:
                continue
            for key in ("visible_p50_ms", "visible_p99_ms"):
                v = re.search(key + r"=([0-9.]+)", seg.group(1))
                if v:
                    d.setdefault(part + " " + key, []).append(float(v.group(1)))
keys = [k for k in runs["off"] if k in runs["on"]]
print("| measure (median of %d) | HTTP off | HTTP on, watched | change |" % len(runs["off"].get("msg/s", [])))
print("|---|---|---|---|")
for k in keys:
    a, b = statistics.median(runs["off"][k]), statistics.median(runs["on"][k])
    print("| %s | %.1f | %.1f | %+.1f %% |" % (k, a, b, (b - a) / a * 100 if a else 0))
PY
