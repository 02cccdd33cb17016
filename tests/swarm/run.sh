#!/usr/bin/env bash
# tests/swarm/run.sh: the Docker Swarm stack (deploy/swarm/stack.yml, deployed by deploy/swarm/deploy.sh)
# on a single-node swarm: a pipeline of two state shards, a workload streamed from the host (riskctl send
# routing each message to its shard's published port) while mapper tasks are killed, the service is
# scaled 2 -> 4 -> 1 -> 2, and a state shard's and the reducer's tasks are killed (swarm restarts them on
# their labelled node, to their volumes); then every aggregate row must equal
# tests/compose/check_aggregates.py's independent computation, riskctl verify must find the aggregates
# the rollup of both shards' state tables, and `docker stack rm` plus the volumes' removal must leave
# nothing behind.
# A swarm this test initialised is left again at the end; one that was already active is used as it is
# (the test labels this node, and removes the labels it added).
# Prints "N passed, M failed"; without a Docker engine or swarm mode, "SKIPPED: ..." and "0 passed, 0 failed".
# Knobs: RISKPIPE_TEST_COUNT (messages, default 60000), RISKPIPE_TEST_SEED (4343), RISKPIPE_BIN (bin/).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${RISKPIPE_BIN:-$ROOT/bin}
COUNT=${RISKPIPE_TEST_COUNT:-60000}
SEED=${RISKPIPE_TEST_SEED:-4343}
RATE=$((COUNT / 45)) # a send of ~45 s: every disturbance, restarts to healthy included, lands in it
STACK=riskpipe-swarm-test-$$
export RISKPIPE_IMAGE=riskpipe:swarm-test
. tests/lib/suite.sh
T=$(mktemp -d /tmp/riskpipe-swarm.XXXXXX)
inited=0 labelled=() deployed=0 send_pid=""
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
note() { echo "# $*"; }
skip() {
    echo "SKIPPED: $*"
    echo "0 passed, 0 failed"
    rm -rf "$T"
    exit 0
}

leftovers() { # what of the stack is still there, one line per object
    docker ps -aq --filter "label=com.docker.stack.namespace=$STACK"
    docker service ls -q --filter "label=com.docker.stack.namespace=$STACK"
    docker network ls -q --filter "label=com.docker.stack.namespace=$STACK"
    docker secret ls -q --filter "label=com.docker.stack.namespace=$STACK"
    docker config ls -q --filter "label=com.docker.stack.namespace=$STACK"
    docker volume ls -q --filter "name=${STACK}_"
}
remove_stack() {
    docker stack rm "$STACK" >/dev/null 2>&1
    local end=$((SECONDS + 120)) v
    # the volumes can go only once no container uses them
    until [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ]; do
        [ $SECONDS -ge $end ] && break
        sleep 1
    done
    for v in $(docker volume ls -q --filter "name=${STACK}_"); do
        until docker volume rm "$v" >/dev/null 2>&1; do
            [ $SECONDS -ge $end ] && break
            sleep 1
        done
    done
    until [ -z "$(leftovers)" ]; do
        [ $SECONDS -ge $end ] && return 1
        sleep 1
    done
}
cleanup() {
    [ -n "$send_pid" ] && kill "$send_pid" 2>/dev/null
    [ "$deployed" = 1 ] && remove_stack
    local l
    for l in "${labelled[@]}"; do docker node update --label-rm "$l" "$(docker info -f "{{.Swarm.NodeID}}")" >/dev/null 2>&1; done
    [ "$inited" = 1 ] && docker swarm leave --force >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- preconditions: an engine, a swarm, the image -------------------------------------------------------
command -v docker >/dev/null 2>&1 || skip "no docker CLI"
timeout 30 docker info >/dev/null 2>&1 || skip "no Docker engine answers"
case "$(docker info -f '{{.Swarm.LocalNodeState}}')" in
inactive)
    timeout 60 docker swarm init --advertise-addr 127.0.0.1 >"$T/init.log" 2>&1 ||
        skip "docker swarm init failed: $(tail -n 1 "$T/init.log")"
    inited=1
    pass "single-node swarm initialised (left again at the end)"
    ;;
active)
    [ "$(docker info -f '{{.Swarm.ControlAvailable}}')" = true ] || skip "this node is a swarm worker"
    note "using the swarm this node is already a manager of"
    ;;
*) skip "swarm state $(docker info -f '{{.Swarm.LocalNodeState}}')" ;;
esac
for l in riskpipe.state0 riskpipe.state1 riskpipe.reducer; do
    if [ -z "$(docker node inspect self -f "{{with index .Spec.Labels \"$l\"}}{{.}}{{end}}")" ]; then
        labelled+=("$l")
    fi
done

t0=$(now)
if timeout 600 deploy/make-base-image.sh >"$T/base.log" 2>&1 &&
    timeout 1200 docker build -q -f deploy/Dockerfile -t "$RISKPIPE_IMAGE" . >"$T/build.log" 2>&1; then
    pass "image $RISKPIPE_IMAGE built ($(since "$t0") s)"
else
    tail -n 20 "$T/base.log" "$T/build.log" | sed 's/^/  | /'
    fail "image" "deploy/make-base-image.sh or docker build failed"
    echo "$passed passed, $failed failed"
    exit 1
fi

# ---- deploy ----------------------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export RISKPIPE_INGEST_PORT=$(free_port) RISKPIPE_INGEST_PORT_1=$(free_port) RISKPIPE_DASHBOARD_PORT=$(free_port)
# the two state shards' published ingest ports, in shard order: riskctl send routes by TradeID
INGEST=tcp://127.0.0.1:$RISKPIPE_INGEST_PORT,tcp://127.0.0.1:$RISKPIPE_INGEST_PORT_1
task() { # the running container of service $1
    docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_$1" --filter status=running | head -n 1
}
healthy() { local c; c=$(task "$1") && [ -n "$c" ] && [ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" = healthy ]; }
mappers() { docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_mapper" --filter status=running | wc -l; }
t0=$(now)
deployed=1
if timeout 300 deploy/swarm/deploy.sh "$STACK" "$T/keys" >"$T/deploy.log" 2>&1 &&
    wait_for 180 healthy state0 && wait_for 120 healthy state1 && wait_for 120 healthy reducer &&
    wait_for 60 test "$(mappers)" = 2; then
    pass "stack deployed: both state shards and the reducer healthy, 2 mappers ($(since "$t0") s)"
else
    sed 's/^/  | /' "$T/deploy.log" | tail -n 20
    docker stack ps --no-trunc "$STACK" 2>&1 | sed 's/^/  | /' | head -n 20
    fail "deploy" "the stack did not come up"
    echo "$passed passed, $failed failed"
    exit 1
fi
placed() { # service $1 runs on the node labelled for it
    [ "$(docker service inspect -f '{{json .Spec.TaskTemplate.Placement.Constraints}}' "${STACK}_$1")" = \
        "[\"node.labels.riskpipe.$1 == true\"]" ]
}
check "both state shards and the reducer pinned by placement constraints" "constraints missing" -- \
    sh -c "$(declare -f placed); STACK=$STACK; placed state0 && placed state1 && placed reducer"
secret_mode=$(docker exec "$(task state0)" stat -c '%a %U' /keys/state.cert_secret 2>&1)
check "the state's key pair is a swarm secret, mode 400, owned by riskpipe" "got: $secret_mode" -- \
    test "$secret_mode" = "400 riskpipe"

# ---- the host producer: the public keys and its own key pair from the key set deploy.sh made -----------
mkdir -p "$T/host"
cp "$T/keys/"*.cert "$T/host/" && cp "$T/keys/producer-keys/host.cert_secret" "$T/host/riskctl.cert_secret"
"$BIN/riskctl" gen --seed 1 --count 10 >"$T/probe.jsonl"
check "a producer without keys is refused on the published ingest port" "it got through" -- \
    sh -c "! timeout 60 '$BIN/riskctl' send '$T/probe.jsonl' --ingest $INGEST --timeout-ms 500 --retries 2 --quiet >/dev/null 2>&1"

workload=$T/workload.jsonl
"$BIN/riskctl" gen --seed "$SEED" --count "$COUNT" --modify 25 --move 10 --dup 5 --ooo 5 >"$workload"

# ---- stream while scaling mappers and killing tasks -----------------------------------------------------
committed() { # both shards' committed_seq summed, read through the reducer's task; -1 when one does not answer
    local out sum=0 s v
    for s in state0 state1; do
        out="$(docker exec "$(task reducer)" riskctl stats --state-control "tcp://$s:5560" --timeout-ms 1000 2>/dev/null || true)"
        v=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["state"].get("committed_seq", -1))' \
            <<<"$out" 2>/dev/null || echo -1)
        [ "$v" -ge 0 ] 2>/dev/null || { echo -1; return; }
        sum=$((sum + v))
    done
    echo $sum
}
send_running() { [ -n "$send_pid" ] && kill -0 "$send_pid" 2>/dev/null; }
t_send=$(now)
{
    python3 tests/compose/pace.py "$RATE" "$workload" |
        timeout 900 "$BIN/riskctl" send - --ingest "$INGEST" --keys "$T/host"
} >"$T/send.log" 2>&1 &
send_pid=$!
note "sending $COUNT messages at $RATE msg/s to $INGEST"
mid=0
# disturb PERCENT WHAT COMMAND...: once the state committed PERCENT % of the messages, runs COMMAND; it
# must succeed while the send still runs.
disturb() {
    local at=$((COUNT * $1 / 100)) what=$2 c end=$((SECONDS + 300))
    shift 2
    until c=$(committed) && [ "$c" -ge "$at" ]; do
        if ! send_running; then fail "$what" "the send finished before committed_seq reached $at"; return; fi
        if [ $SECONDS -ge $end ]; then fail "$what" "committed_seq $c after 300 s, never $at"; return; fi
        sleep 0.2
    done
    local t=$(since "$t_send")
    if ! "$@" >>"$T/chaos.log" 2>&1; then
        fail "$what" "the command failed (t=$t s): $(tail -n 2 "$T/chaos.log" | tr '\n' ' ')"
    elif send_running; then
        mid=$((mid + 1))
        pass "$what during the send (t=$t s, committed_seq $c >= $at, done at t=$(since "$t_send") s)"
    else
        fail "$what" "landed after the send finished (t=$t s)"
    fi
}
kill_task() { # kills service $1's running task; swarm must start another, healthy when it has a check
    local old new end=$((SECONDS + 120))
    old=$(task "$1")
    [ -n "$old" ] && docker kill "$old" >/dev/null || return 1
    until new=$(task "$1") && [ -n "$new" ] && [ "$new" != "$old" ]; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.5
    done
    [ "$1" = mapper ] || wait_for 90 healthy "$1"
}
scale() { # N: docker service scale, converged, N mappers running
    timeout 180 docker service scale "${STACK}_mapper=$1" >/dev/null && wait_for 60 test "$(mappers)" = "$1"
}
restarted=()
timed() { local t0 rc; t0=$(now); "$@"; rc=$?; restarted+=("$2 $(since "$t0") s"); return $rc; }
disturb 8 "killed a mapper task (docker kill), swarm replaced it" timed kill_task mapper
disturb 18 "scaled mappers to 4 (docker service scale)" scale 4
disturb 30 "killed state shard 1's task, swarm restarted it on its node, healthy" timed kill_task state1
disturb 50 "killed the reducer's task, swarm restarted it on its node, healthy" timed kill_task reducer
disturb 70 "scaled mappers to 1" scale 1
note "$mid of 5 disturbances landed during the send; restart to healthy: ${restarted[*]}"

rc=0
wait "$send_pid" || rc=$?
send_pid=""
send_s=$(since "$t_send")
if [ $rc = 0 ]; then
    pass "riskctl send of $COUNT messages acknowledged in $send_s s ($(grep -o 'frames re-sent [0-9]*' "$T/send.log"))"
else
    tail -n 15 "$T/send.log" | sed 's/^/  | /'
    fail "send" "riskctl send exited $rc after $send_s s"
fi
check "scaled mappers back to 2" "not 2 running" -- scale 2

# ---- the totals, exactly ---------------------------------------------------------------------------------
t_conv=$(now)
check "riskctl wait in the reducer's task: every committed change applied" "it timed out" -- \
    timeout 150 docker exec "$(task reducer)" riskctl wait --timeout 120
ok=0 end=$((SECONDS + 60))
while :; do
    if timeout 60 docker exec "$(task reducer)" mdb_dump -s aggregate /data/reducer >"$T/agg.dump" 2>"$T/dump.err" &&
        python3 tests/compose/check_aggregates.py "$workload" "$T/agg.dump" >"$T/check.out" 2>&1; then
        ok=1
        break
    fi
    [ $SECONDS -ge $end ] && break
    sleep 2
done
sed 's/^/  /' "$T/check.out" | head -n 40
check "every aggregate row equals the independent computation ($(since "$t_conv") s after the send)" \
    "rows differ" -- test $ok = 1
# riskctl verify reads every shard's state table and the reducer's, in a one-off container on the
# node that holds the three volumes (one node here)
out=$(timeout 120 docker run --rm -v "${STACK}_state0-data:/s0" -v "${STACK}_state1-data:/s1" \
    -v "${STACK}_reducer-data:/r" --entrypoint riskctl "$RISKPIPE_IMAGE" verify --state-data /s0,/s1 \
    --reducer-data /r 2>&1)
rc=$?
check "riskctl verify across both shards' state tables: the aggregates are their rollup" \
    "exit $rc: $(tail -n 3 <<<"$out")" -- test $rc = 0

# ---- remove everything -----------------------------------------------------------------------------------
t0=$(now)
deployed=0
if remove_stack; then
    pass "docker stack rm and the volumes' removal leave no container, service, network, secret, config or volume ($(since "$t0") s)"
else
    fail "removal" "left behind: $(leftovers | tr '\n' ' ')"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
