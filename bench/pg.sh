#!/usr/bin/env bash
# The PostgreSQL peer of `make bench`: creates a throw-away PostgreSQL 15
# cluster in a temporary directory (unix socket only, every commit fsynced),
# loads FILE with bench-pg-load (one transaction of COPY + set-based SQL per
# batch), checks the aggregate table against a SQL recompute from the state
# table and against an independent Python computation over FILE, then stops
# the cluster and removes it.
# Prints one line: "seconds=S msgs=N verified=yes bytes=B" (B: the cluster's
# directory, WAL included, right after the load).
# Usage: bench/pg.sh FILE
# Environment: BIN (default bin), PGBIN (default /usr/lib/postgresql/15/bin),
# BENCH_PG_BATCH (messages per transaction, default 10000), BENCH_TMP (where
# the cluster goes, default /tmp), BENCH_PG_OS_USER (the user the server runs
# as when this runs as root, default postgres).
# Exit status: 0 verified, 1 verification failed, 2 usage or setup error,
# 3 the load failed.
set -euo pipefail
die() { code=$1; shift; echo "bench/pg.sh: $*" >&2; exit "$code"; }
[ $# -eq 1 ] || die 2 "usage: bench/pg.sh FILE (JSON lines, e.g. from riskctl gen)"
[ -r "$1" ] && [ -f "$1" ] || die 2 "cannot read the workload file '$1'"
FILE=$(realpath "$1")
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BATCH=${BENCH_PG_BATCH:-10000}

for t in initdb pg_ctl postgres; do
  [ -x "$PGBIN/$t" ] || die 2 "PostgreSQL server program $PGBIN/$t not found:" \
    "apt-get install postgresql-15 (or set PGBIN to the directory holding initdb)"
done
pkg-config --exists libpq 2>/dev/null || die 2 "libpq not found by pkg-config: apt-get install libpq-dev"
command -v python3 >/dev/null || die 2 "python3 not found (it runs the independent check): apt-get install python3"
make -s -f Makefile -f bench/bench.mk BIN="$BIN" "$BIN/bench-pg-load" >&2 ||
  die 2 "building $BIN/bench-pg-load failed"

DIR=$(mktemp -d "${BENCH_TMP:-/tmp}/pg-bench.XXXXXX")
RUN=()
started=0
cleanup() {
  local rc=$?
  if [ "$started" = 1 ]; then
    "${RUN[@]}" "$PGBIN/pg_ctl" -D "$DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ "$rc" != 0 ] && [ -s "$DIR/pg/server.log" ]; then
    echo "bench/pg.sh: last lines of the server log:" >&2
    tail -n 20 "$DIR/pg/server.log" >&2
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT
mkdir "$DIR/pg"
# PostgreSQL refuses to run as root: the server then runs as another user,
# who must be able to reach its directory.
if [ "$(id -u)" = 0 ]; then
  OSUSER=${BENCH_PG_OS_USER:-postgres}
  id "$OSUSER" >/dev/null 2>&1 || die 2 "running as root, and there is no user '$OSUSER' to run" \
    "the server as (the postgresql-15 package creates 'postgres'; or set BENCH_PG_OS_USER)"
  chmod 711 "$DIR"
  chown "$OSUSER": "$DIR/pg"
  RUN=(runuser -u "$OSUSER" --)
fi

"${RUN[@]}" "$PGBIN/initdb" -D "$DIR/pg/data" -U postgres -A trust -E UTF8 --locale=C -N \
  >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die 2 "initdb failed"; }
# Durable commits as riskpipe's (fsync on, synchronous commit), and the
# tuning a DBA would give a write-heavy database on this machine: big
# buffers, and WAL and checkpoint limits that keep checkpoints out of a run
# of a few minutes. JIT is off: it is meant for long analytic queries, and
# compiling each batch's statement anew costs more than running it.
cat >>"$DIR/pg/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$DIR/pg'
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 1GB
wal_buffers = 64MB
max_wal_size = 4GB
min_wal_size = 1GB
checkpoint_timeout = 30min
work_mem = 64MB
jit = off
EOF
"${RUN[@]}" "$PGBIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/server.log" -w -t 60 start >/dev/null ||
  die 2 "the PostgreSQL server did not start"
started=1

out=$("$BIN/bench-pg-load" --conn "host=$DIR/pg user=postgres dbname=postgres" \
  --batch "$BATCH" --dump "$DIR/aggregate.tsv" "$FILE") || {
  rc=$?
  [ "$rc" = 3 ] && die 1 "verification failed: the aggregate table differs from its SQL recompute"
  die 3 "the load failed (bench-pg-load exit status $rc)"
}
bytes=$(du -sb "$DIR/pg/data" | cut -f1)
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }
prc=0
python3 bench/peer_check.py "$FILE" "$DIR/aggregate.tsv" || prc=$?
[ "$prc" = 0 ] || [ "$prc" = 1 ] || die 2 "the independent check could not run (bench/peer_check.py exit status $prc)"
[ "$prc" = 0 ] || die 1 "verification failed: the aggregate table differs from the independent computation over $FILE"
echo "seconds=$(field seconds) msgs=$(field msgs) verified=yes bytes=$bytes"
