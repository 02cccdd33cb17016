#!/usr/bin/env bash
# The Redis peer of `make bench`: starts a throw-away redis-server on a unix
# socket in a temporary directory, with the append-only file fsynced before
# every reply (appendonly yes, appendfsync always; no RDB snapshots), loads
# FILE with bench-redis-load (one Lua script call per batch, a few in flight),
# checks the aggregates against an independent Python computation over FILE,
# then stops the server and removes its directory.
# Prints one line: "seconds=S msgs=N verified=yes bytes=B" (B: the server's
# data directory, the append-only files, right after the load).
# Usage: bench/redis.sh FILE
# Environment: BIN (default bin), REDIS_SERVER (default redis-server),
# BENCH_REDIS_BATCH (messages per script call, default 1000),
# BENCH_REDIS_PIPELINE (calls in flight, default 4), BENCH_TMP (default /tmp).
# Exit status: 0 verified, 1 verification failed, 2 usage or setup error,
# 3 the load failed.
set -euo pipefail
die() { code=$1; shift; echo "bench/redis.sh: $*" >&2; exit "$code"; }
[ $# -eq 1 ] || die 2 "usage: bench/redis.sh FILE (JSON lines, e.g. from riskctl gen)"
[ -r "$1" ] && [ -f "$1" ] || die 2 "cannot read the workload file '$1'"
FILE=$(realpath "$1")
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
BATCH=${BENCH_REDIS_BATCH:-1000}
PIPELINE=${BENCH_REDIS_PIPELINE:-4}

command -v "$REDIS_SERVER" >/dev/null ||
  die 2 "$REDIS_SERVER not found: apt-get install redis-server (or set REDIS_SERVER)"
command -v redis-cli >/dev/null || die 2 "redis-cli not found: apt-get install redis-tools"
pkg-config --exists hiredis 2>/dev/null ||
  die 2 "hiredis not found by pkg-config: apt-get install libhiredis-dev"
command -v python3 >/dev/null || die 2 "python3 not found (it runs the independent check): apt-get install python3"
make -s -f Makefile -f bench/bench.mk BIN="$BIN" "$BIN/bench-redis-load" >&2 ||
  die 2 "building $BIN/bench-redis-load failed"

DIR=$(mktemp -d "${BENCH_TMP:-/tmp}/redis-bench.XXXXXX")
SOCK=$DIR/redis.sock
pid=
cleanup() {
  local rc=$?
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true # Redis shuts down cleanly on SIGTERM
    wait "$pid" 2>/dev/null || true
  fi
  if [ "$rc" != 0 ] && [ -s "$DIR/redis.log" ]; then
    echo "bench/redis.sh: last lines of the server log:" >&2
    tail -n 20 "$DIR/redis.log" >&2
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT
mkdir "$DIR/data"

"$REDIS_SERVER" --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$DIR/data" \
  --appendonly yes --appendfsync always --save '' --daemonize no \
  --logfile "$DIR/redis.log" &
pid=$!
for _ in $(seq 1 200); do
  [ "$(redis-cli -s "$SOCK" ping 2>/dev/null)" = PONG ] && break
  kill -0 "$pid" 2>/dev/null || { pid=; die 2 "redis-server exited at start-up"; }
  sleep 0.05
done
[ "$(redis-cli -s "$SOCK" ping 2>/dev/null)" = PONG ] || die 2 "redis-server did not answer in 10 s"

out=$("$BIN/bench-redis-load" --socket "$SOCK" --batch "$BATCH" --pipeline "$PIPELINE" \
  --dump "$DIR/aggregate.tsv" "$FILE") || die 3 "the load failed (bench-redis-load exit status $?)"
bytes=$(du -sb "$DIR/data" | cut -f1)
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }
prc=0
python3 bench/peer_check.py "$FILE" "$DIR/aggregate.tsv" || prc=$?
[ "$prc" = 0 ] || [ "$prc" = 1 ] || die 2 "the independent check could not run (bench/peer_check.py exit status $prc)"
[ "$prc" = 0 ] || die 1 "verification failed: the aggregates differ from the independent computation over $FILE"
echo "seconds=$(field seconds) msgs=$(field msgs) verified=yes bytes=$bytes"
