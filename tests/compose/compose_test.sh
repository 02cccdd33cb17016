#!/usr/bin/env bash
# tests/compose/compose_test.sh: end-to-end test of the docker-compose deployment: 100k generated messages
# sent from the host while a mapper is killed, state restarts and mappers scale 3 -> 1 -> 4; every aggregate
# row must then equal the totals tests/compose/check_aggregates.py computes independently from the workload.
# Each disturbance waits until the state has committed a given share of the workload, and is an assertion
# that it was done while the send was still running.
#
# Prints one final line "N passed, M failed" (non-zero exit on failure); without a Docker engine or a compose
# tool it prints "SKIPPED: <reason>" and "0 passed, 0 failed" and exits 0.
# Knobs: RISKPIPE_TEST_COUNT (messages, default 100000; 20000 with RISKPIPE_TEST_QUICK=1),
#        RISKPIPE_TEST_SEED (default 4242), RISKPIPE_BIN (host binaries, default bin/),
#        RISKPIPE_TEST_RATE (messages/s streamed to riskctl send, default COUNT / 25: a send of ~25 s),
#        RISKPIPE_TEST_KEEP=1 (leave the stack up for debugging; remove it with the printed command),
#        RISKPIPE_COMPOSE_TOOL (v2: `docker compose`, v1: the standalone docker-compose, any (default):
#        v2 when it answers, else v1; make test runs the suite once with each).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/compose"
if [[ "${RISKPIPE_TEST_QUICK:-0}" == 1 ]]; then COUNT="${RISKPIPE_TEST_COUNT:-20000}"; else COUNT="${RISKPIPE_TEST_COUNT:-100000}"; fi
RISKCTL="${RISKPIPE_BIN:-$ROOT/bin}/riskctl" # the host's riskctl (built by make)
SEED="${RISKPIPE_TEST_SEED:-4242}"
# Messages/s the workload is streamed at: the send lasts ~25 s whatever COUNT, long enough for every
# disturbance below to land during it.
RATE="${RISKPIPE_TEST_RATE:-$((COUNT / 25 > 0 ? COUNT / 25 : 1))}"
PROJECT="riskpipe-test-$$"
export RISKPIPE_IMAGE="riskpipe:compose-test" # the test's own tag: a user's riskpipe:latest is untouched
export RISKPIPE_PROMETHEUS_IMAGE="riskpipe-prometheus:compose-test"
# The monitoring profile (Prometheus) runs too, for every compose command of this test.
export COMPOSE_PROFILES=monitoring

passed=0
failed=0
skipped=0
torn_down=1
send_pid=""
tmp=""
COMPOSE=()

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
note() { echo "# $*"; }
skip() { skipped=1; echo "SKIPPED: $*"; exit 0; }

# Tears the stack down (containers, network, volumes) and prints the summary; runs on every exit.
finish() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n "$send_pid" ]] && kill -0 "$send_pid" 2>/dev/null; then
        pkill -TERM -P "$send_pid" 2>/dev/null || true # the pace | send pipeline started by this script
        kill "$send_pid" 2>/dev/null || true
    fi
    if ((!torn_down)); then
        if [[ "${RISKPIPE_TEST_KEEP:-0}" == 1 ]]; then
            note "stack kept: ${COMPOSE[*]} -p $PROJECT down -v --remove-orphans"
        else
            timeout 120 "${COMPOSE[@]}" -p "$PROJECT" down -v --remove-orphans -t 5 >/dev/null 2>&1 ||
                note "teardown of $PROJECT failed; run: ${COMPOSE[*]} -p $PROJECT down -v --remove-orphans"
            note "stack $PROJECT torn down"
        fi
    fi
    [[ -n "$tmp" ]] && rm -rf "$tmp"
    if ((rc != 0 && failed == 0 && !skipped)); then
        fail "aborted (exit status $rc)"
    fi
    echo "$passed passed, $failed failed"
    ((failed == 0)) || exit 1
    exit 0
}
trap finish EXIT
trap 'echo "# interrupted"; exit 130' INT TERM

# ---- preconditions -------------------------------------------------------------------------------------
command -v docker >/dev/null 2>&1 || skip "no docker CLI"
timeout 30 docker info >/dev/null 2>&1 || skip "no Docker engine answers (docker info failed)"
case "${RISKPIPE_COMPOSE_TOOL:-any}" in
v2)
    docker compose version >/dev/null 2>&1 ||
        skip "no Docker Compose v2 ('docker compose'; make deps installs it as a CLI plugin)"
    COMPOSE=(docker compose)
    ;;
v1)
    command -v docker-compose >/dev/null 2>&1 || skip "no standalone docker-compose (v1)"
    COMPOSE=(docker-compose)
    ;;
any)
    if docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    elif command -v docker-compose >/dev/null 2>&1; then
        COMPOSE=(docker-compose)
    else
        skip "no compose tool (neither 'docker compose' nor docker-compose)"
    fi
    ;;
*)
    echo "RISKPIPE_COMPOSE_TOOL must be v2, v1 or any" >&2
    exit 2
    ;;
esac
command -v python3 >/dev/null 2>&1 || skip "python3 not found (needed for the independent check)"
dc() { "${COMPOSE[@]}" -p "$PROJECT" "$@"; }
cd "$ROOT"
note "compose tool: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?')), project $PROJECT"

if [[ ! -x "$RISKCTL" ]]; then
    note "$RISKCTL missing: running make"
    make -s all >/dev/null
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/riskpipe-compose-test.XXXXXX")"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Polls "$@" every second until it succeeds; gives up after $1 seconds.
wait_for() {
    local limit=$1 t0=$SECONDS
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS - t0 < limit)) || return 1
        sleep 1
    done
}
service_ids() { docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1"; }
healthy() {
    local id
    id="$(service_ids "$1" | head -n 1)"
    [[ -n "$id" && "$(docker inspect -f '{{.State.Health.Status}}' "$id")" == healthy ]]
}
running_mappers() { service_ids mapper | wc -l; }
send_running() { [[ -n "$send_pid" ]] && kill -0 "$send_pid" 2>/dev/null; }

# ---- base image and image build ------------------------------------------------------------------------
t0="$(now)"
if timeout 600 "$ROOT/deploy/make-base-image.sh" >"$tmp/base.log" 2>&1; then
    pass "base image debian:bookworm-slim present ($(since "$t0") s: $(tail -n 1 "$tmp/base.log"))"
else
    sed 's/^/  | /' "$tmp/base.log" | tail -n 30
    fail "deploy/make-base-image.sh"
    exit 1
fi

t0="$(now)"
# Every service shares one image, so building the `state` service builds it for all.
if timeout 1200 "${COMPOSE[@]}" -p "$PROJECT" build state >"$tmp/build.log" 2>&1; then
    pass "image $RISKPIPE_IMAGE built in $(since "$t0") s ($(docker image inspect -f '{{.Size}}' "$RISKPIPE_IMAGE" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
else
    tail -n 40 "$tmp/build.log" | sed 's/^/  | /'
    fail "compose build"
    exit 1
fi

t0="$(now)"
if timeout 1200 "${COMPOSE[@]}" -p "$PROJECT" build prometheus >"$tmp/build-prom.log" 2>&1; then
    pass "image $RISKPIPE_PROMETHEUS_IMAGE (Debian's prometheus) built in $(since "$t0") s"
else
    tail -n 40 "$tmp/build-prom.log" | sed 's/^/  | /'
    fail "compose build prometheus"
    exit 1
fi

# ---- start the stack with 3 mappers on free host ports -------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
RISKPIPE_INGEST_PORT="$(free_port)"
RISKPIPE_DASHBOARD_PORT="$(free_port)"
RISKPIPE_PROMETHEUS_PORT="$(free_port)"
export RISKPIPE_INGEST_PORT RISKPIPE_DASHBOARD_PORT RISKPIPE_PROMETHEUS_PORT
t0="$(now)"
torn_down=0
if timeout 300 "${COMPOSE[@]}" -p "$PROJECT" up -d --no-build --scale mapper=3 >"$tmp/up.log" 2>&1 &&
    wait_for 90 healthy state && wait_for 90 healthy reducer && (($(running_mappers) == 3)); then
    pass "stack up (state, reducer healthy, 3 mappers) in $(since "$t0") s, ingest on 127.0.0.1:$RISKPIPE_INGEST_PORT"
else
    sed 's/^/  | /' "$tmp/up.log" | tail -n 30
    dc ps || true
    dc logs --tail 30 || true
    fail "stack did not come up"
    exit 1
fi

# ---- a producer on the host: its own key pair, added while the stack runs --------------------------------
# As the README tells a host producer to: riskctl keygen --producer in the keys volume, then the public
# .cert files and that key pair (as riskctl.cert_secret) on the host. The state picks the new key up.
keys="$tmp/keys"
mkdir -p "$keys"
if timeout 120 "${COMPOSE[@]}" -p "$PROJECT" run --rm --no-deps -T keys \
        riskctl keygen /keys --producer compose-test >"$tmp/keygen.log" 2>&1 &&
    dc exec -T state sh -c 'cd /keys && tar -cf - *.cert producer-keys/compose-test.cert_secret' |
    tar -C "$keys" -xf - && mv "$keys/producer-keys/compose-test.cert_secret" "$keys/riskctl.cert_secret"; then
    pass "host producer key pair made in the keys volume and copied to the host"
else
    sed 's/^/  | /' "$tmp/keygen.log"
    fail "could not give the host producer a key pair"
    exit 1
fi
probe="$tmp/probe.jsonl"
"$RISKCTL" gen --seed 1 --count 10 >"$probe"
if timeout 60 "$RISKCTL" send "$probe" --ingest "tcp://127.0.0.1:$RISKPIPE_INGEST_PORT" \
        --timeout-ms 500 --retries 2 --quiet >/dev/null 2>&1; then
    fail "a producer without keys got through the published ingest port"
else
    pass "a producer without keys is refused on the published ingest port"
fi

# ---- workload: generated on the host, with modifications, moves, duplicates and out-of-order versions ---
workload="$tmp/workload.jsonl"
"$RISKCTL" gen --seed "$SEED" --count "$COUNT" --modify 25 --move 10 --dup 5 --ooo 5 >"$workload"
lines="$(wc -l <"$workload")"
if ((lines == COUNT)); then
    pass "generated $lines messages (seed $SEED)"
else
    fail "riskctl gen printed $lines lines, wanted $COUNT"
fi

# ---- send in the background while the stack is disturbed ------------------------------------------------
# The file is streamed at RATE msgs/s (pace.py) so that the send lasts long enough to be disturbed.
# The state's committed_seq (changes committed; about 90 % of the messages, the rest being duplicates and
# stale versions), read through the reducer's container, which keeps answering while the state restarts;
# -1 when the state does not answer.
committed() {
    local out # riskctl stats exits 1, still printing JSON, when one process does not answer
    out="$(dc exec -T reducer riskctl stats --timeout-ms 1000 2>/dev/null || true)"
    python3 -c 'import json, sys; print(json.load(sys.stdin)["state"].get("committed_seq", -1))' \
        <<<"$out" 2>/dev/null || echo -1
}
last_committed=-1
# Waits until committed_seq >= $1. Returns 1 if the send finished first, 2 after 300 s.
wait_committed() {
    local t0=$SECONDS
    until last_committed="$(committed)" && ((last_committed >= $1)); do
        send_running || return 1
        ((SECONDS - t0 < 300)) || return 2
        sleep 0.2
    done
}
# The disturbances, each bounded by a timeout.
kill_a_mapper() { timeout 60 docker kill "$(service_ids mapper | head -n 1)"; }
restart_state() { timeout 300 "${COMPOSE[@]}" -p "$PROJECT" restart state; }
scale_mappers() { # N: scales the mapper service and checks that N mappers run
    timeout 300 "${COMPOSE[@]}" -p "$PROJECT" up -d --no-build --no-recreate --scale mapper="$1" &&
        (($(running_mappers) == $1))
}

t_send="$(now)"
{
    python3 "$HERE/pace.py" "$RATE" "$workload" |
        timeout 900 "$RISKCTL" send - --ingest "tcp://127.0.0.1:$RISKPIPE_INGEST_PORT" --keys "$keys"
} >"$tmp/send.log" 2>&1 &
send_pid=$!
note "sending $lines messages at $RATE msgs/s to tcp://127.0.0.1:$RISKPIPE_INGEST_PORT"

# disturb PERCENT DESCRIPTION COMMAND...: once the state has committed PERCENT % of the messages, runs
# COMMAND; passes only if it succeeded and the send was still running when it finished, as
# tests/integration/test_faults.c requires of its faults.
mid_send=0
disturb() {
    local at=$((COUNT * $1 / 100)) what=$2 rc=0
    shift 2
    wait_committed "$at" || rc=$?
    if ((rc == 1)); then
        fail "$what: the send finished before committed_seq reached $at (last seen $last_committed)"
        return
    elif ((rc == 2)); then
        fail "$what: committed_seq still $last_committed after 300 s, never reached $at"
        return
    fi
    local t="$(since "$t_send")"
    if ! "$@" >>"$tmp/chaos.log" 2>&1; then
        sed 's/^/  | /' "$tmp/chaos.log" | tail -n 10
        fail "$what: the command failed (started at t=$t s, committed_seq $last_committed)"
    elif send_running; then
        mid_send=$((mid_send + 1))
        pass "$what during the send (started at t=$t s with committed_seq $last_committed >= $at," \
            "done at t=$(since "$t_send") s)"
    else
        fail "$what landed after the send finished (started at t=$t s with committed_seq" \
            "$last_committed, done at t=$(since "$t_send") s)"
    fi
}
# The state restarts early so that the stream is still going when scaling follows.
disturb 10 "killed one mapper (docker kill)" kill_a_mapper
disturb 25 "restarted state" restart_state
if wait_for 60 healthy state; then
    pass "state healthy again after its restart (t=$(since "$t_send") s)"
else
    fail "state not healthy 60 s after its restart"
fi
disturb 45 "scaled mappers to 1" scale_mappers 1
disturb 60 "scaled mappers to 4" scale_mappers 4
note "$mid_send of 4 disturbances landed during the send"

send_rc=0
wait "$send_pid" || send_rc=$?
send_pid=""
send_s="$(since "$t_send")"
if ((send_rc == 0)); then
    pass "riskctl send of $lines messages acknowledged in $send_s s"
else
    sed 's/^/  | /' "$tmp/send.log" | tail -n 20
    fail "riskctl send exited with $send_rc after $send_s s"
fi

# ---- convergence and the exact comparison ---------------------------------------------------------------
t_conv="$(now)"
if timeout 150 "${COMPOSE[@]}" -p "$PROJECT" exec -T reducer riskctl wait --timeout 120 >"$tmp/wait.log" 2>&1; then
    pass "riskctl wait: all committed changes applied ($(since "$t_conv") s after the send)"
else
    sed 's/^/  | /' "$tmp/wait.log" | tail -n 10
    fail "riskctl wait did not report convergence"
fi

# Compare; if it differs, poll (the dump must stop changing and match) for up to 60 s before failing.
dump() { timeout 60 "${COMPOSE[@]}" -p "$PROJECT" exec -T reducer mdb_dump -s aggregate /data/reducer >"$tmp/aggregate.dump"; }
matched=0
deadline=$((SECONDS + 60))
while :; do
    if dump 2>"$tmp/dump.err" && python3 "$HERE/check_aggregates.py" "$workload" "$tmp/aggregate.dump" >"$tmp/check.out" 2>&1; then
        matched=1
        break
    fi
    ((SECONDS < deadline)) || break
    sleep 2
done
conv_s="$(since "$t_conv")"
sed 's/^/  /' "$tmp/check.out" | head -n 120
if ((matched)); then
    pass "every aggregate row equals the independent computation (converged $conv_s s after the send)"
else
    sed 's/^/  | /' "$tmp/dump.err" | tail -n 5
    fail "aggregate rows differ from the independent computation after $conv_s s"
fi

# ---- the documented operator commands work in the containers --------------------------------------------
if timeout 60 "${COMPOSE[@]}" -p "$PROJECT" exec -T reducer riskctl query >"$tmp/query.out" 2>&1 && [[ -s "$tmp/query.out" ]]; then
    pass "exec reducer riskctl query ($(wc -l <"$tmp/query.out") lines)"
else
    sed 's/^/  | /' "$tmp/query.out" | tail -n 5
    fail "exec reducer riskctl query"
fi
if timeout 60 "${COMPOSE[@]}" -p "$PROJECT" exec -T reducer riskctl stats >"$tmp/stats.out" 2>&1; then
    pass "exec reducer riskctl stats"
else
    sed 's/^/  | /' "$tmp/stats.out" | tail -n 5
    fail "exec reducer riskctl stats"
fi
mappers="$(running_mappers)"
if ((mappers == 4)) && healthy state && healthy reducer; then
    pass "4 mappers running, state and reducer healthy at the end"
else
    dc ps || true
    fail "end state: $mappers mappers running (want 4), state/reducer health: $(healthy state && echo ok || echo bad)/$(healthy reducer && echo ok || echo bad)"
fi

# ---- the dashboard's port and Prometheus ----------------------------------------------------------------
DASH="http://127.0.0.1:$RISKPIPE_DASHBOARD_PORT"
token="$(dc exec -T reducer cat /keys/http.token 2>/dev/null || true)"
code() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 10 "$@" || true; }
c="$(code "$DASH/v1/status")"
if [[ "$c" == 401 ]]; then
    pass "the published HTTP port refuses a request without the token (401)"
else
    fail "the published HTTP port answered $c without the token, want 401"
fi
c="$(code -H "Authorization: Bearer $token" "$DASH/v1/status")"
if [[ -n "$token" && "$c" == 200 ]] &&
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["role"] == "reducer" and d["lag"] == 0 and d["applied_seq"] > 0, d' "$tmp/body" 2>"$tmp/status.err"; then
    pass "the reducer's /v1/status on 127.0.0.1:$RISKPIPE_DASHBOARD_PORT with the keys volume's token: lag 0"
else
    sed 's/^/  | /' "$tmp/status.err" "$tmp/body" 2>/dev/null | tail -n 5
    fail "the reducer's /v1/status with the token answered $c"
fi
c="$(code "$DASH/")"
if [[ "$c" == 200 ]] && grep -qi '<html' "$tmp/body"; then
    pass "the dashboard page is served at $DASH/"
else
    fail "GET $DASH/ answered $c"
fi
# Prometheus finds every daemon through Docker's DNS, the 4 scaled mappers included, and all are up.
PROM="http://127.0.0.1:$RISKPIPE_PROMETHEUS_PORT"
targets_up() {
    curl -sf --max-time 5 "$PROM/api/v1/targets?state=active" >"$tmp/targets.json" &&
        python3 - "$tmp/targets.json" "$1" >"$tmp/targets.out" 2>&1 <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["data"]["activeTargets"]
want = {"riskpipe-state": 1, "riskpipe-reducer": 1, "riskpipe-mapper": int(sys.argv[2])}
seen = {}
for x in t:
    seen.setdefault(x["labels"]["job"], []).append((x["scrapeUrl"], x["health"], x.get("lastError", "")))
print(seen)
for job, n in want.items():
    got = seen.get(job, [])
    assert len(got) == n and all(h == "up" for _, h, _ in got), (job, got)
PY
}
if wait_for 90 targets_up "$(running_mappers)"; then
    pass "Prometheus scrapes state, reducer and all $(running_mappers) mappers, every target up"
else
    sed 's/^/  | /' "$tmp/targets.out" | tail -n 5
    fail "Prometheus targets not all up (want state, reducer, $(running_mappers) mappers)"
fi
if curl -sf --max-time 5 "$PROM/api/v1/rules" >"$tmp/rules.json" &&
    python3 -c 'import json, sys; g = json.load(open(sys.argv[1]))["data"]["groups"]; n = sum(len(x["rules"]) for x in g); assert n >= 5, n; print(n)' "$tmp/rules.json" >"$tmp/rules.out" 2>&1; then
    pass "Prometheus loaded $(cat "$tmp/rules.out") alert rules"
else
    fail "Prometheus has not loaded the alert rules: $(head -c 300 "$tmp/rules.json" 2>/dev/null)"
fi

if ((failed)); then
    note "last logs:"
    dc logs --tail 20 2>&1 | sed 's/^/  | /' || true
fi
note "timings: send ${send_s} s, convergence ${conv_s} s"
