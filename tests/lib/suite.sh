# tests/lib/suite.sh: the reporting and waiting every script suite shares. Source it from the
# repository's root; it starts the counts at zero. A suite ends with `echo "$passed passed,
# $failed failed"`, the line tests/run-all.sh reads.
passed=0
failed=0

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# finish: prints the summary line and exits, 0 when nothing failed (a suite that stops early says
# what it has).
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

# check NAME WHY -- COMMAND...: PASS when COMMAND succeeds, else FAIL with WHY.
check() {
    local name=$1 why=$2
    shift 3
    if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds (0) or SECONDS pass (1).
wait_for() {
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.1
    done
}

# stop_pids PID...: SIGTERM to each, then waits for each (a suite's cleanup).
stop_pids() {
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
    for p in "$@"; do wait "$p" 2>/dev/null; done
}
