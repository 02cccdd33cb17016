#!/usr/bin/env bash
# Resource tests: overload with no consumers (busy replies, bounded RSS, drain
# when consumers return), pruning (no history kept once applied, disk use that
# follows live trades rather than history), LMDB map growth and a full disk on
# a small tmpfs (errors, nothing acknowledged lost, resume when space returns),
# and SIGTERM under load (every daemon exits 0 within 5 s).
#
# Each check is one function with its own processes, ports and data directory,
# and each of its assertions says what was expected and what was seen. Ends
# with "N passed, M failed" (checks, not assertions). RISKPIPE_TEST_QUICK=1
# shortens the overload phase to 15 s (default 60 s, or OVERLOAD_S). Arguments,
# if any, name the checks to run (the functions below), e.g.
# tests/resources/run.sh pruning_keeps_no_history.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${RISKPIPE_BIN:-$PWD/bin}
OVERLOAD_S=${OVERLOAD_S:-60}
[ -n "${RISKPIPE_TEST_QUICK:-}" ] && OVERLOAD_S=15
MAX_LAG=50000 # the state's --max-lag in the overload checks
WINDOW=64     # the state's --window where reduce rows are counted
passed=0
failed=0
T=$(mktemp -d /tmp/riskpipe-res.XXXXXX)
# Ten ports per check, below the kernel's ephemeral range (32768+) so that no
# client's source port can take a daemon's port between two checks.
BASE=$((20000 + ($$ % 120) * 100))

CHECK=""     # the running check's name
CHECK_NO=0   # its number, which selects its ports
DIR=""       # its data and log directory
FAILED=0     # assertions failed in it
SKIPPED=0    # set by a check that cannot run here
MOUNTED=""   # a tmpfs the running check mounted
PIDS=()      # its daemons
HELPERS=()   # its background riskctl processes
STATE=""     # pid of its state process
REDUCER=""   # pid of its reducer

cleanup() {
    stop_all
    [ -n "$MOUNTED" ] && umount "$MOUNTED"
    rm -rf "$T"
}
trap cleanup EXIT

# Assertions.

# Records a failed assertion of the running check; the words say what was expected and what
# was seen.
fail() {
    echo "FAIL $CHECK: $*"
    FAILED=$((FAILED + 1))
}
# expect MESSAGE... -- TEST...: runs TEST (a command or [ ... ]) and records MESSAGE if it fails.
expect() {
    local why=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        why+=("$1")
        shift
    done
    shift
    "$@" || fail "${why[*]}"
}

# Processes.

ep() { echo "tcp://127.0.0.1:$((BASE + CHECK_NO * 10 + $1))"; }
start_state() { # data-dir extra-flags...
    local d=$1
    shift
    "$BIN/riskpipe-state" --data "$d" --ingest "$(ep 0)" --ingest-pull "$(ep 1)" --work "$(ep 2)" \
        --acks "$(ep 4)" --control "$(ep 5)" --http "" "$@" 2>>"$DIR/state.log" &
    STATE=$!
    PIDS+=("$STATE")
    wait_for 10 "$BIN/riskctl" ping state --state-control "$(ep 5)" ||
        fail "the state process did not answer ping within 10 s"
}
start_reducer() {
    "$BIN/riskpipe-reducer" --data "$DIR/reducer" --results "$(ep 3)" --acks "$(ep 4)" \
        --control "$(ep 6)" --http "" 2>>"$DIR/reducer.log" &
    REDUCER=$!
    PIDS+=("$REDUCER")
}
start_mapper() {
    "$BIN/riskpipe-mapper" --work "$(ep 2)" --results "$(ep 3)" 2>>"$DIR/mapper.log" &
    PIDS+=($!)
}
# Waits for the background helper $1 and forgets it (its pid may be reused); returns its status.
reap() {
    local rc p kept=()
    wait "$1"
    rc=$?
    for p in "${HELPERS[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    HELPERS=("${kept[@]}")
    return $rc
}
# Stops what the running check started: its producers first (a producer left without a state
# would retry for minutes), then its daemons.
stop_all() {
    local p
    for p in "${HELPERS[@]}" "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${HELPERS[@]}" "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    HELPERS=()
    PIDS=()
}
# 0 while pid $1 runs; a zombie counts as exited.
running() {
    local s
    s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]
}
exited() { ! running "$1"; }
between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; } # value min max
wait_for() { # seconds command...
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.1
    done
}

# Observations.

# The counter $2 of section $1 ("state" or "reducer") from riskctl stats, or -1.
stat_of() {
    local v
    v=$("$BIN/riskctl" stats --state-control "$(ep 5)" --reducer-control "$(ep 6)" 2>/dev/null |
        awk -v s="\"$1\":" -v k="\"$2\":" '
            /^  "/ { in_s = ($1 == s) }
            in_s && $1 == k { gsub(",", "", $2); print $2; exit }')
    echo "${v:--1}"
}
stat_at_least() { [ "$(stat_of "$1" "$2")" -ge "$3" ]; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Distinct trades in a JSON-lines file, computed without riskpipe's code.
distinct_trades() { grep -o '"TradeID":"[^"]*"' "$1" | sort -u | wc -l; }
entries() { # env table: rows in an LMDB table, -1 when unreadable
    local n
    n=$(mdb_stat -s "$2" "$1" 2>/dev/null | awk '/Entries:/ { print $2 }')
    echo "${n:--1}"
}
pages() { # env: pages in use, -1 when unreadable
    local n
    n=$(mdb_stat -e "$1" 2>/dev/null | awk '/Number of pages used/ { print $5 }')
    echo "${n:--1}"
}
# Runs riskctl wait and riskctl verify on the check's pipeline; each failure is an assertion.
expect_exact() { # state-data
    local out
    out=$("$BIN/riskctl" wait --state-control "$(ep 5)" --timeout 120 2>&1) ||
        fail "riskctl wait did not see every committed change aggregated within 120 s: $out"
    out=$("$BIN/riskctl" verify --state-data "$1" --reducer-data "$DIR/reducer" 2>&1) ||
        fail "riskctl verify: aggregates differ from the state table: $(head -5 <<<"$out")"
}
# Sends a whole file and expects every frame acknowledged; $2 names the moment in the message.
send_all() { # file what
    local file=$1 what=$2 out
    out=$("$BIN/riskctl" send "$file" --ingest "$(ep 0)" --quiet 2>&1) ||
        fail "riskctl send of $(basename "$file") $what exited $?: $(tail -2 <<<"$out")"
}

# Workloads, generated once and shared read-only by the checks.

OVER=$T/over.jsonl   # 400,000 messages on 100,000 trades
OVER2=$T/over2.jsonl # the same generator with twice the count: the same trades, twice the history
BIG=$T/big.jsonl     # 150,000 new trades, no re-valuations (the full-disk check writes it)
"$BIN/riskctl" gen --seed 11 --count 400000 --trades 100000 >"$OVER"
"$BIN/riskctl" gen --seed 11 --count 800000 --trades 100000 >"$OVER2"

# The checks.

# No mappers, a lag limit, a producer pushing for OVERLOAD_S: the state answers busy once the
# limit is reached, and neither the state's nor the reducer's memory grows with the backlog.
overload_refuses_busy_with_bounded_memory() {
    start_state "$DIR/state" --max-lag "$MAX_LAG" --redeliver-ms 1000
    start_reducer
    timeout "$OVERLOAD_S" "$BIN/riskctl" send "$OVER" --ingest "$(ep 0)" --quiet \
        --retries 1000000 --timeout-ms 2000 >/dev/null 2>&1 &
    HELPERS+=($!)
    local producer=$! i r rr max_rss=0 first_half=0 second_half=0 reducer_rss=0
    # one sample a second for the whole period: the peak of each half is what is compared
    for i in $(seq 1 "$OVERLOAD_S"); do
        r=$(rss_kb "$STATE")
        rr=$(rss_kb "$REDUCER")
        [ "$rr" -gt "$reducer_rss" ] && reducer_rss=$rr
        [ "$r" -gt "$max_rss" ] && max_rss=$r
        if [ "$i" -le $((OVERLOAD_S / 2)) ]; then
            [ "$r" -gt "$first_half" ] && first_half=$r
        else
            [ "$r" -gt "$second_half" ] && second_half=$r
        fi
        sleep 1
    done
    reap "$producer"
    local producer_rc=$? busy lag
    busy=$(stat_of state busy_replies)
    lag=$(stat_of state lag)
    echo "overload ${OVERLOAD_S}s: state peak RSS $max_rss kB (first half $first_half, second" \
        "half $second_half), reducer peak RSS $reducer_rss kB, busy replies $busy, lag $lag;" \
        "log entries $(entries "$DIR/state" log), batch rows $(entries "$DIR/state" batches)"
    # AddressSanitizer's shadow memory and quarantine add a few hundred MB
    local rss_cap=400000
    [ -n "${RISKPIPE_SANITIZED:-}" ] && rss_cap=2000000
    expect "riskctl send exited $producer_rc during the ${OVERLOAD_S} s overload, want 124" \
        "(still refused when timeout stopped it)" -- [ "$producer_rc" -eq 124 ]
    expect "the state process died during the overload" -- running "$STATE"
    expect "busy_replies is $busy after ${OVERLOAD_S} s of overload, want > 0" -- \
        [ "$busy" -gt 0 ]
    expect "lag is $lag, want >= --max-lag $MAX_LAG (the overload never reached the limit)" -- \
        [ "$lag" -ge "$MAX_LAG" ]
    expect "state peak RSS $max_rss kB, want < $rss_cap kB" -- [ "$max_rss" -lt "$rss_cap" ]
    expect "reducer peak RSS $reducer_rss kB, want < $rss_cap kB" -- \
        [ "$reducer_rss" -lt "$rss_cap" ]
    expect "state RSS grew from $first_half kB (first half's peak) to $second_half kB (second" \
        "half's), want at most 130 % + 20 MB" -- \
        [ "$second_half" -le $((first_half * 13 / 10 + 20000)) ]
}

# A producer refused with busy (no mappers, a lag limit) completes once mappers start, and the
# tables are then exact.
overload_drains_when_consumers_return() {
    start_state "$DIR/state" --max-lag "$MAX_LAG" --redeliver-ms 1000
    start_reducer
    timeout 300 "$BIN/riskctl" send "$OVER" --ingest "$(ep 0)" --quiet --retries 1000000 \
        --timeout-ms 2000 >"$DIR/send.out" 2>&1 &
    HELPERS+=($!)
    local sender=$!
    if ! wait_for 60 stat_at_least state busy_replies 1; then
        fail "no busy reply within 60 s without mappers (lag $(stat_of state lag)," \
            "--max-lag $MAX_LAG)"
        kill "$sender"
        reap "$sender"
        return
    fi
    expect "riskctl send finished before any mapper started" -- running "$sender"
    start_mapper
    start_mapper
    reap "$sender"
    local rc=$?
    expect "riskctl send exited $rc once mappers ran, want 0 (124: unfinished after 300 s):" \
        "$(tail -2 "$DIR/send.out")" -- [ "$rc" -eq 0 ]
    expect_exact "$DIR/state"
    local have want
    have=$(entries "$DIR/state" state)
    want=$(distinct_trades "$OVER")
    expect "the state table holds $have trades, the workload has $want distinct TradeIDs" -- \
        [ "$have" -eq "$want" ]
}

# A history built up while no mapper runs (change log, batch rows) is gone once it is applied. Of
# the reducer's applied-batch rows only those at or above the last watermark it heard of remain:
# a result carries the watermark of its dispatch, at most --window batches below the newest.
pruning_keeps_no_history() {
    start_state "$DIR/state" --window "$WINDOW"
    start_reducer
    send_all "$OVER" "without mappers"
    local log_n b_n red_n
    log_n=$(entries "$DIR/state" log)
    b_n=$(entries "$DIR/state" batches)
    echo "before the mappers: log entries $log_n, batch rows $b_n"
    expect "the change log has $log_n entries before any mapper ran, want > 0 (nothing to" \
        "prune)" -- [ "$log_n" -gt 0 ]
    expect "the batches table has $b_n rows before any mapper ran, want > 0 (nothing to" \
        "prune)" -- [ "$b_n" -gt 0 ]
    start_mapper
    start_mapper
    expect_exact "$DIR/state"
    log_n=$(entries "$DIR/state" log)
    b_n=$(entries "$DIR/state" batches)
    red_n=$(entries "$DIR/reducer" reduce)
    echo "after applying: log entries $log_n, batch rows $b_n, reduce rows $red_n;" \
        "disk $(du -sh "$DIR/state" | cut -f1) state, $(du -sh "$DIR/reducer" | cut -f1) reducer"
    expect "the change log keeps $log_n entries once applied, want 0" -- [ "$log_n" -eq 0 ]
    expect "the batches table keeps $b_n rows once acknowledged, want 0" -- [ "$b_n" -eq 0 ]
    expect "the reduce table keeps $red_n rows, want 0 to --window ($WINDOW)" -- \
        between "$red_n" 0 "$WINDOW"
}

# Twice the history on the same trades must not need twice the disk.
disk_use_follows_live_trades_not_history() {
    local t1 t2
    t1=$(distinct_trades "$OVER")
    t2=$(distinct_trades "$OVER2")
    # the generator repeats the smaller file, then goes on re-valuing the same trades
    expect "the larger workload does not start with the smaller one" -- \
        cmp -s "$OVER" <(head -n "$(wc -l <"$OVER")" "$OVER2")
    expect "the larger workload has $t2 distinct trades, the smaller $t1: not the same trades" \
        -- [ "$t1" -eq "$t2" ]
    start_state "$DIR/state"
    start_reducer
    start_mapper
    start_mapper
    send_all "$OVER" "(the first history)"
    expect_exact "$DIR/state"
    local p1 r1 p2 r2 log_n
    p1=$(pages "$DIR/state")
    r1=$(pages "$DIR/reducer")
    send_all "$OVER2" "(twice the history)"
    expect_exact "$DIR/state"
    p2=$(pages "$DIR/state")
    r2=$(pages "$DIR/reducer")
    log_n=$(entries "$DIR/state" log)
    echo "history x2 on the same trades: state pages used $p1 -> $p2, reducer $r1 -> $r2"
    expect "state pages used: $p1 after the first history, want > 0" -- [ "$p1" -gt 0 ]
    expect "reducer pages used: $r1 after the first history, want > 0" -- [ "$r1" -gt 0 ]
    expect "state pages used grew from $p1 to $p2 with twice the history, want at most 130 %" \
        -- between "$p2" 0 $((p1 * 13 / 10))
    expect "reducer pages used grew from $r1 to $r2, want at most 130 % + 50" -- \
        between "$r2" 0 $((r1 * 13 / 10 + 50))
    expect "the change log keeps $log_n entries once applied, want 0" -- [ "$log_n" -eq 0 ]
}

# A state whose LMDB map starts at 1 MiB on a 12 MB tmpfs: the map grows, then the disk fills
# and the state answers "retry later"; once the tmpfs grows the send completes, and nothing
# acknowledged is lost.
full_disk_refuses_then_resumes_exact() {
    local small=$DIR/small
    if [ "$(id -u)" -ne 0 ] || ! mkdir -p "$small" ||
        ! mount -t tmpfs -o size=12m tmpfs "$small" 2>/dev/null; then
        echo "SKIPPED $CHECK: needs root to mount a tmpfs"
        SKIPPED=1
        return
    fi
    MOUNTED=$small
    "$BIN/riskctl" gen --seed 12 --count 150000 --trades 150000 --modify 0 --move 0 --dup 0 \
        --ooo 0 >"$BIG"
    start_state "$small/state" --map-size 1 --map-max 1024
    start_reducer
    start_mapper
    "$BIN/riskctl" send "$BIG" --ingest "$(ep 0)" --retries 3 --timeout-ms 2000 \
        >"$DIR/send1.out" 2>"$DIR/send1.err" &
    HELPERS+=($!)
    local sender=$!
    # the disk is full when the state answers "storage full (LMDB: ...), retry later"
    if ! wait_for 60 grep -q "retry later" "$DIR/send1.err"; then
        kill "$sender" 2>/dev/null
        reap "$sender"
        fail "no 'retry later' answer within 60 s on a 12 MB tmpfs: $(tail -2 "$DIR/send1.err")"
        return
    fi
    local grown committed
    grown=$(grep -c "map grown" "$DIR/state.log")
    committed=$(stat_of state committed_seq)
    echo "full disk: map grew $grown times, $committed changes committed when the disk filled"
    expect "the map never grew from 1 MiB before the disk filled (no 'map grown' logged)" -- \
        [ "$grown" -gt 0 ]
    mount -o remount,size=512m "$small"
    reap "$sender"
    local rc=$?
    # riskctl send may have given up (--retries 3) while the disk was full: send it all again
    [ "$rc" -ne 0 ] && send_all "$BIG" "again after the disk grew"
    expect_exact "$small/state"
    local have want
    have=$(entries "$small/state" state)
    want=$(distinct_trades "$BIG")
    expect "the state table holds $have trades after the disk grew, the workload has $want" -- \
        [ "$have" -eq "$want" ]
}

# Under a steady stream, SIGTERM makes each daemon finish what it received and exit 0 within 5 s.
sigterm_exits_0_within_5s() {
    start_state "$DIR/state"
    start_reducer
    start_mapper
    # an endless stream through a FIFO, so that the load is still on when the signals come and
    # both producer processes have their own pid
    mkfifo "$DIR/stream"
    "$BIN/riskctl" gen --seed 13 --count 0 --rate 20000 >"$DIR/stream" &
    local gen=$!
    "$BIN/riskctl" send "$DIR/stream" --ingest "$(ep 0)" --quiet >/dev/null 2>&1 &
    local sender=$!
    HELPERS+=("$gen" "$sender")
    if ! wait_for 30 stat_at_least state committed_seq 20000; then
        fail "only $(stat_of state committed_seq) changes committed in 30 s of the stream," \
            "want 20000 before the signals"
    fi
    expect "riskctl send stopped before the signals: the daemons were not under load" -- \
        running "$sender"
    local names=(state reducer mapper) pids=("${PIDS[@]}") k p rc t0 ms
    for k in "${!pids[@]}"; do
        p=${pids[$k]}
        t0=$EPOCHREALTIME
        kill -TERM "$p"
        if ! wait_for 5 exited "$p"; then
            fail "${names[$k]} (pid $p) still running 5 s after SIGTERM"
            kill -KILL "$p"
        fi
        wait "$p"
        rc=$?
        ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
        echo "SIGTERM: ${names[$k]} exited $rc after $ms ms"
        expect "${names[$k]} exited $rc after SIGTERM, want 0" -- [ "$rc" -eq 0 ]
    done
    PIDS=()
    # with no state left the producer would retry for minutes; gen then dies of SIGPIPE
    kill "$sender"
    reap "$sender"
    reap "$gen"
}

run_check() { # function
    CHECK=$1
    CHECK_NO=$((CHECK_NO + 1))
    DIR=$T/$CHECK
    FAILED=0
    SKIPPED=0
    mkdir -p "$DIR"
    "$CHECK"
    stop_all
    if [ -n "$MOUNTED" ]; then
        umount "$MOUNTED"
        MOUNTED=""
    fi
    [ "$SKIPPED" -eq 1 ] && return
    if [ "$FAILED" -eq 0 ]; then
        echo "PASS $CHECK"
        passed=$((passed + 1))
        return
    fi
    local f
    for f in "$DIR"/*.log; do
        [ -e "$f" ] || continue
        echo "--- $f"
        tail -5 "$f"
    done
    failed=$((failed + 1))
}

CHECKS=(overload_refuses_busy_with_bounded_memory overload_drains_when_consumers_return
    pruning_keeps_no_history disk_use_follows_live_trades_not_history
    full_disk_refuses_then_resumes_exact sigterm_exits_0_within_5s)
[ $# -gt 0 ] && CHECKS=("$@")
for c in "${CHECKS[@]}"; do run_check "$c"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
