# bench/pipeline.sh: sourced by the bench scripts (riskpipe.sh, latency.sh)
# to run a pipeline of their own: state, $MAPPERS mappers and the reducer on
# empty data directories under $DIR, with default flags but for endpoints.
# Ports: BENCH_PORT_BASE..+8 (default 5555), in the order ingest,
# ingest-pull, work, results, acks, state control, reducer control, state
# HTTP, reducer HTTP (the daemons' defaults but for the ports: HTTP is on, as
# it is by default). It refuses ports already in use: another pipeline would answer our
# pings and take our batches. After pipeline_start: INGEST, SCTL, RCTL,
# CTL (the riskctl control flags) and pids (state, reducer, mappers).
# pipeline_stop stops them. The daemons' stdout is /dev/null, so that one
# left running can never hold a caller's $(...) open. The caller sets BIN, MAPPERS, DIR and $me (its
# name, for messages). BENCH_STATE_FLAGS: more riskpipe-state flags, for
# experiments (make bench leaves it empty: default flags).
# BENCH_HTTP=off starts state and reducer with --http "" (no HTTP server at
# all). BENCH_WATCH=1 (HTTP on) adds what watching costs: a scrape of both
# daemons' /metrics every second, as a Prometheus would (5 s by default), and
# one client following the reducer's /v1/stream (Server-Sent Events);
# BENCH_WATCH_WHAT=scrape or =stream keeps only one of the two.
base=${BENCH_PORT_BASE:-5555}
bench_ep() { echo "tcp://127.0.0.1:$((base + $1))"; }
INGEST=$(bench_ep 0) PULL=$(bench_ep 1) WORK=$(bench_ep 2) RESULTS=$(bench_ep 3)
ACKS=$(bench_ep 4) SCTL=$(bench_ep 5) RCTL=$(bench_ep 6)
CTL=(--state-control "$SCTL" --reducer-control "$RCTL")
pids=()
watchers=()
if [ "${BENCH_HTTP:-on}" = off ]; then
  http_state=() http_reducer=()
else
  http_state=("127.0.0.1:$((base + 7))") http_reducer=("127.0.0.1:$((base + 8))")
fi

pipeline_stop() {
  for p in "${watchers[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait "${watchers[@]}" "${pids[@]}" 2>/dev/null || true
  pids=() watchers=()
}

# The watchers of BENCH_WATCH=1, started once the daemons answer.
pipeline_watch() {
  [ "${BENCH_WATCH:-0}" = 1 ] && [ "${BENCH_HTTP:-on}" != off ] || return 0
  local what=${BENCH_WATCH_WHAT:-both}
  # one long-lived scraper, as a Prometheus is: no process started per scrape
  if [ "$what" != stream ]; then
    python3 -c '
import sys, time, urllib.request
while True:
    t = time.monotonic()
    for u in sys.argv[1:]:
        try:
            urllib.request.urlopen(u, timeout=5).read()
        except OSError:
            pass
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
' "http://${http_state[0]}/metrics" "http://${http_reducer[0]}/metrics" &
    watchers+=($!) # python's own pid: a subshell's would leave python running
  fi
  [ "$what" = scrape ] && return 0
  curl -sN --max-time 86400 "http://${http_reducer[0]}/v1/stream" >"$DIR/stream.txt" 2>/dev/null &
  watchers+=($!)
}

pipeline_start() {
  local hex
  for ((i = 0; i <= 8; i++)); do
    hex=$(printf '%04X' $((base + i)))
    # listening (it answers), or a live socket's local port (a connection's
    # too; TIME_WAIT, state 06, is left by our own earlier runs and does not
    # stop a bind with SO_REUSEADDR, which libzmq and libmicrohttpd set)
    if (exec 3<>"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null ||
      awk -v h=":$hex" 'FNR > 1 && $4 != "06" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
      echo "$me: port $((base + i)) is in use (another pipeline?): set BENCH_PORT_BASE" >&2
      return 1
    fi
  done
  "$BIN/riskpipe-state" --data "$DIR/state" --ingest "$INGEST" --ingest-pull "$PULL" \
    --work "$WORK" --acks "$ACKS" --control "$SCTL" --http "${http_state[0]:-}" ${BENCH_STATE_FLAGS:-} >/dev/null 2>"$DIR/state.log" & pids+=($!)
  "$BIN/riskpipe-reducer" --data "$DIR/reducer" --results "$RESULTS" --acks "$ACKS" \
    --control "$RCTL" --http "${http_reducer[0]:-}" >/dev/null 2>"$DIR/reducer.log" & pids+=($!)
  local p ok
  for p in state reducer; do
    ok=0
    for _ in $(seq 1 100); do
      if "$BIN/riskctl" ping "$p" "${CTL[@]}" >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.05
    done
    if [ "$ok" = 0 ]; then
      echo "$me: the $p process did not answer; its log:" >&2
      cat "$DIR/$p.log" >&2
      return 1
    fi
  done
  # the mappers start only once state and reducer are known to be ours
  for p in "${pids[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then
      echo "$me: a daemon exited at start-up; logs:" >&2
      tail -n 3 "$DIR"/*.log >&2
      return 1
    fi
  done
  for i in $(seq 1 "$MAPPERS"); do
    "$BIN/riskpipe-mapper" --work "$WORK" --results "$RESULTS" >/dev/null 2>"$DIR/mapper$i.log" & pids+=($!)
  done
  pipeline_watch
}
