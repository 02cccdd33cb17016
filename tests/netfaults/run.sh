#!/usr/bin/env bash
# tests/netfaults/run.sh: the pipeline with every process on a host of its own -- network namespaces
# shard0 and shard1 (the two state shards of a pipeline of K=2), reducer, map1, map2 and prod (the
# producer, routing each message to its shard), each linked by a veth pair to a bridge in a switch
# namespace, every socket CURVE (no process shares loopback with another) -- while a paced workload
# streams and a seeded schedule cuts and heals the links: a link down (ip link set down on the switch
# side), 30 % packet loss both ways (iptables' statistic match), a link slowed to 256 kbit/s (tc tbf),
# and a host paused (SIGSTOP of all its processes, then SIGCONT). Then: the send acknowledged every
# message, no acknowledged message is lost (every aggregate row equals tests/compose/check_aggregates.py's
# computation from the whole workload, and riskctl verify across both shards agrees), the shards', the
# reducer's and the producer's memory stayed bounded while cut, and the time to catch up after the last heal is printed.
# The same seed gives the same schedule: RISKPIPE_NETFAULT_SEED=N tests/netfaults/run.sh replays it.
# tc netem (loss and delay) is not in this machine's kernel ("Specified qdisc kind is unknown"): loss
# comes from iptables and slowness from tbf instead; a kernel with netem is not needed.
# Needs root, iproute2 and iptables; else prints SKIPPED. Prints "N passed, M failed".
# Knobs: RISKPIPE_NETFAULT_SEED (1), RISKPIPE_TEST_COUNT (40000 messages), RISKPIPE_NETFAULT_RATE (1500 msg/s),
# RISKPIPE_NETFAULT_MEM_MB (128: how much each watched process may grow over its first sample).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/suite.sh
BIN=${RISKPIPE_BIN:-$PWD/bin}
SEED=${RISKPIPE_NETFAULT_SEED:-1}
COUNT=${RISKPIPE_TEST_COUNT:-40000}
RATE=${RISKPIPE_NETFAULT_RATE:-1500}
MEM_MB=${RISKPIPE_NETFAULT_MEM_MB:-128}
P=rpnf$$                       # namespace names: $P-shard0, ..., $P-sw
NET=10.231.$(($$ % 200 + 20))  # the hosts' subnet
HOSTS=(shard0 shard1 reducer map1 map2 prod)
T=$(mktemp -d /tmp/riskpipe-netfaults.XXXXXX)
declare -A IP PIDS
i=1
for h in "${HOSTS[@]}"; do IP[$h]=$NET.$i; i=$((i + 1)); done
skip() {
    echo "SKIPPED: $*"
    echo "0 passed, 0 failed"
    rm -rf "$T"
    exit 0
}
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
cleanup() {
    local h p
    for h in "${HOSTS[@]}"; do
        for p in ${PIDS[$h]:-}; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
    done
    for h in "${HOSTS[@]}"; do for p in ${PIDS[$h]:-}; do wait "$p" 2>/dev/null; done; done
    [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null
    for h in "${HOSTS[@]}" sw; do ip netns del "$P-$h" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null && command -v tc >/dev/null || skip "no iproute2 (ip, tc)"
command -v iptables >/dev/null || skip "no iptables"
ip netns add "$P-sw" 2>/dev/null || skip "cannot make a network namespace"

# ---- the hosts: a namespace each, a veth to the switch's bridge ---------------------------------------------
ip -n "$P-sw" link add br0 type bridge && ip -n "$P-sw" link set br0 up && ip -n "$P-sw" link set lo up
i=1
for h in "${HOSTS[@]}"; do
    ip netns add "$P-$h" &&
        ip link add "h$i" netns "$P-sw" type veth peer name eth0 netns "$P-$h" &&
        ip -n "$P-sw" link set "h$i" master br0 && ip -n "$P-sw" link set "h$i" up &&
        ip -n "$P-$h" addr add "${IP[$h]}/24" dev eth0 && ip -n "$P-$h" link set eth0 up &&
        ip -n "$P-$h" link set lo up || { fail "hosts" "could not make host $h"; echo "$passed passed, $failed failed"; exit 1; }
    i=$((i + 1))
done
swif() { local j; for j in "${!HOSTS[@]}"; do [ "${HOSTS[$j]}" = "$1" ] && echo "h$((j + 1))"; done; }
pass "${#HOSTS[@]} hosts (network namespaces on a bridge, $NET.0/24): ${HOSTS[*]}"
on() { local h=$1; shift; ip netns exec "$P-$h" "$@"; }
ep() { echo "tcp://${IP[$1]}:$2"; }

"$BIN/riskctl" keygen "$T/keys" >/dev/null || { fail "keys" "riskctl keygen failed"; exit 1; }
# started by ip netns exec directly (not through a shell function): $! is then the daemon itself, the
# process a pause stops and the sampler watches
for s in 0 1; do
    ip netns exec "$P-shard$s" "$BIN/riskpipe-state" --shard $s --shards 2 --data "$T/state$s" \
        --ingest "$(ep shard$s 5555)" --ingest-pull "$(ep shard$s 5556)" --work "$(ep shard$s 5557)" \
        --acks "$(ep shard$s 5559)" --control "$(ep shard$s 5560)" --http "" --keys "$T/keys" \
        2>"$T/shard$s.log" &
    PIDS[shard$s]=$!
done
ip netns exec "$P-reducer" "$BIN/riskpipe-reducer" --data "$T/reducer" --results "$(ep reducer 5558)" \
    --shards 2 --acks "$(ep shard0 5559),$(ep shard1 5559)" --control "$(ep reducer 5561)" --http "" \
    --keys "$T/keys" 2>"$T/reducer.log" &
PIDS[reducer]=$!
for m in map1 map2; do
    ip netns exec "$P-$m" "$BIN/riskpipe-mapper" --work "$(ep shard0 5557),$(ep shard1 5557)" \
        --results "$(ep reducer 5558)" --http "" --keys "$T/keys" 2>"$T/$m.log" &
    PIDS[$m]=$!
done
INGEST="$(ep shard0 5555),$(ep shard1 5555)"
CONTROLS="$(ep shard0 5560),$(ep shard1 5560)"
CTL=(--reducer-control "$(ep reducer 5561)" --keys "$T/keys")
if wait_for 20 on prod "$BIN/riskctl" ping state --state-control "$(ep shard0 5560)" "${CTL[@]}" &&
    wait_for 20 on prod "$BIN/riskctl" ping state --state-control "$(ep shard1 5560)" "${CTL[@]}" &&
    wait_for 20 on prod "$BIN/riskctl" ping reducer "${CTL[@]}"; then
    pass "2 state shards, reducer and 2 mappers up, each on its own host, CURVE on every socket"
else
    tail -n 5 "$T"/*.log
    fail "start" "a state shard or the reducer did not answer across the bridge"
    echo "$passed passed, $failed failed"
    exit 1
fi

# ---- the schedule, from the seed ------------------------------------------------------------------------------
python3 - "$SEED" "$COUNT" "$RATE" >"$T/schedule" <<'PY'
import random, sys
seed, count, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
r = random.Random(seed)
send_s = count / rate
kinds = ["cut", "cut", "cut", "loss", "loss", "slow", "pause", "pause"]
r.shuffle(kinds)
targets = {"cut": ["shard0", "shard1", "reducer", "map1", "map2", "prod"],
           "loss": ["shard0", "shard1", "reducer", "map1", "prod"],
           "slow": ["shard0", "shard1", "reducer", "map2"],
           "pause": ["shard0", "shard1", "reducer", "map1", "map2"]}
step = (send_s * 0.8) / len(kinds)
for i, k in enumerate(kinds):
    at = 1.5 + i * step + r.uniform(0, step * 0.2)
    dur = round(r.uniform(1.0, min(2.5, step * 0.7)), 1)
    print("%.1f %s %s %.1f" % (at, k, r.choice(targets[k]), dur))
PY
note() { echo "# $*"; }
note "seed $SEED (replay: RISKPIPE_NETFAULT_SEED=$SEED tests/netfaults/run.sh); schedule, seconds after the send starts:"
sed 's/^/#   t=/' "$T/schedule"

# ---- the workload, streamed from the producer's host ----------------------------------------------------------
"$BIN/riskctl" gen --seed "$((SEED + 1000))" --count "$COUNT" --modify 25 --move 10 --dup 5 --ooo 5 >"$T/work.jsonl"
t_send=$(now)
{
    python3 tests/compose/pace.py "$RATE" "$T/work.jsonl" |
        on prod timeout 600 "$BIN/riskctl" send - --ingest "$INGEST" --keys "$T/keys" \
            --timeout-ms 2000 --retries 10000
} >"$T/send.out" 2>"$T/send.err" &
send_pid=$!
# the riskctl send process itself (its memory is watched too)
for _ in $(seq 1 50); do
    PIDS[prod]=$(pgrep -f -n "^$BIN/riskctl send - --ingest $INGEST") && break
    sleep 0.1
done
# VmRSS of the shards, the reducer and the producer: the first sample (before any fault) and the peak, every
# 0.2 s. The bound is on the growth: sanitized builds start at ~300 MB of shadow memory.
(
    declare -A peak
    while :; do
        for h in shard0 shard1 reducer prod; do
            p=${PIDS[$h]:-}
            [ -n "$p" ] || continue
            while read -r k v _; do
                if [ "$k" = VmRSS: ]; then
                    [ -n "${peak[$h]:-}" ] || echo "$h $v" >>"$T/base"
                    [ "$v" -gt "${peak[$h]:-0}" ] && peak[$h]=$v && echo "$h ${peak[$h]}" >>"$T/peaks"
                    break
                fi
            done <"/proc/$p/status" 2>/dev/null
        done
        sleep 0.2
    done
) &
sampler=$!

apply() { # KIND HOST on|off
    local k=$1 h=$2 on_=$3 p
    case $k in
    cut) ip -n "$P-sw" link set "$(swif "$h")" "$([ "$on_" = on ] && echo down || echo up)" ;;
    loss)
        if [ "$on_" = on ]; then
            on "$h" iptables -A INPUT -m statistic --mode random --probability 0.3 -j DROP &&
                on "$h" iptables -A OUTPUT -m statistic --mode random --probability 0.3 -j DROP
        else
            on "$h" iptables -F
        fi
        ;;
    slow)
        if [ "$on_" = on ]; then
            on "$h" tc qdisc add dev eth0 root tbf rate 256kbit burst 16kbit latency 500ms
        else
            on "$h" tc qdisc del dev eth0 root
        fi
        ;;
    pause)
        for p in ${PIDS[$h]}; do
            kill "-$([ "$on_" = on ] && echo STOP || echo CONT)" "$p" || return 1
            # the daemon itself is stopped (T), not some wrapper of it; the signal lands a moment later
            if [ "$on_" = on ]; then wait_for 2 grep -q '^State:.*T' "/proc/$p/status" || return 1; fi
        done
        ;;
    esac
}
last_heal=$t_send
while read -r at kind host dur; do
    while (($(echo "$(now) - $t_send < $at" | bc))); do sleep 0.05; done
    t=$(since "$t_send")
    if apply "$kind" "$host" on 2>>"$T/faults.log"; then
        sleep "$dur"
        if apply "$kind" "$host" off 2>>"$T/faults.log"; then
            last_heal=$(now)
            # catch-up: until everything committed by now is aggregated
            if ! on prod "$BIN/riskctl" wait --state-control "$CONTROLS" --keys "$T/keys" \
                --timeout 60 >/dev/null 2>&1; then
                fail "$kind $host at t=$t s" "not caught up 60 s after the heal"
            elif kill -0 "$send_pid" 2>/dev/null; then
                pass "$kind $host at t=$t s for $dur s, healed; caught up $(since "$last_heal") s after the heal, the send still running"
            else
                fail "$kind $host at t=$t s" "the send had ended before it healed"
            fi
        else
            fail "$kind $host" "could not heal: $(tail -n 1 "$T/faults.log")"
        fi
    else
        fail "$kind $host" "could not apply: $(tail -n 1 "$T/faults.log")"
        apply "$kind" "$host" off 2>/dev/null # never leave a fault half applied
    fi
done <"$T/schedule"

rc=0
wait "$send_pid" || rc=$?
send_s=$(since "$t_send")
if [ $rc = 0 ] && grep -q "accepted=" "$T/send.out"; then
    pass "riskctl send acknowledged all $COUNT messages in $send_s s ($(grep -o 'frames re-sent [0-9]*' "$T/send.err"))"
else
    tail -n 5 "$T/send.err"
    fail "send" "riskctl send exited $rc after $send_s s"
fi
t_heal=$(now)
if on prod "$BIN/riskctl" wait --state-control "$CONTROLS" --keys "$T/keys" --timeout 120 >"$T/wait.out" 2>&1; then
    pass "caught up: every committed change aggregated $(since "$t_heal") s after the send ended ($(since "$last_heal") s after the last heal)"
else
    fail "catch-up" "riskctl wait: $(tail -n 1 "$T/wait.out")"
fi
kill "$sampler" 2>/dev/null
sampler=""
for h in shard0 shard1 reducer prod; do
    if [ -n "${RISKPIPE_SANITIZED:-}" ]; then # ASan's quarantine keeps 256 MB of freed memory
        note "$h: memory not judged under sanitizers"
        continue
    fi
    kb=$(awk -v h="$h" '$1 == h {m = $2} END {print m + 0}' "$T/peaks" 2>/dev/null)
    b=$(awk -v h="$h" '$1 == h {print $2; exit}' "$T/base" 2>/dev/null)
    check "$h: RSS $((${b:-0} / 1024)) MB at the start, peak $((kb / 1024)) MB while cut and after: grew at most $MEM_MB MB" \
        "grew by $(((kb - ${b:-0}) / 1024)) MB" -- test "$kb" -gt 0 -a $((kb - ${b:-0})) -le $((MEM_MB * 1024))
done

# ---- exact: nothing acknowledged was lost --------------------------------------------------------------------
if mdb_dump -s aggregate "$T/reducer" >"$T/agg.dump" 2>"$T/dump.err" &&
    python3 tests/compose/check_aggregates.py "$T/work.jsonl" "$T/agg.dump" >"$T/check.out" 2>&1; then
    pass "every aggregate row equals the independent computation from the whole workload"
else
    head -n 20 "$T/check.out" "$T/dump.err"
    fail "exact" "the aggregates differ from the workload's totals"
fi
"$BIN/riskctl" verify --state-data "$T/state0,$T/state1" --reducer-data "$T/reducer" >"$T/verify.out" 2>&1
rc=$?
check "riskctl verify: the aggregates are the rollup of both shards' state tables" \
    "exit $rc: $(tail -n 3 "$T/verify.out")" -- test $rc = 0
note "replay: RISKPIPE_NETFAULT_SEED=$SEED tests/netfaults/run.sh"
if [ "$failed" != 0 ]; then
    for f in shard0 shard1 reducer map1 map2; do
        echo "# last lines of $f.log:"
        tail -n 15 "$T/$f.log" | sed 's/^/#   /'
    done
    echo "# the send's stderr:"
    tail -n 15 "$T/send.err" | sed 's/^/#   /'
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
