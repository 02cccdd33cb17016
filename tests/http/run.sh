#!/usr/bin/env bash
# The daemons' HTTP endpoints (svc/http.c): a pipeline of state, reducer and
# two mappers, each with --http on a port of this suite, takes a generated
# workload; then /metrics is scraped from each and parsed with
# prometheus_client (and promtool when installed), its counters are checked
# against riskctl send's own summary and against each other, /v1/status is
# parsed, and the endpoint's refusals are tried: a non-loopback address
# without a token file, a request without the token, a port in use, and
# --http "" listening nowhere. Prints PASS/FAIL per check and ends with
# "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${RISKPIPE_BIN:-$PWD/bin}
T=$(mktemp -d /tmp/riskpipe-http.XXXXXX)
# 40 ports of our own in 10000-11999 (tests/lib/ports.sh).
. tests/lib/suite.sh
. tests/lib/ports.sh
pick_ports 10000 50 40 || exit 1
PIDS=()

cleanup() {
    stop_pids "${PIDS[@]}"
    rm -rf "$T"
}
trap cleanup EXIT

port() { echo $((BASE + $1)); }
ep() { echo "tcp://127.0.0.1:$(port "$1")"; }
url() { echo "http://127.0.0.1:$(port "$1")$2"; }
# HTTP status code of a request: code URL [curl options...]
code() {
    local u=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$u"
}

# A python3 that has prometheus_client (Debian's python3-prometheus-client is
# for /usr/bin/python3, which another python3 on PATH may not see).
PY=""
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import prometheus_client' 2>/dev/null; then
        PY=$p
        break
    fi
done

# Prints every sample of an exposition as "name{label=value,...} value", the
# labels sorted, from prometheus_client's parser (exit 1 when it refuses).
cat >"$T/samples.py" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        v = s.value
        print("%s{%s} %s" % (s.name, labels, int(v) if v == int(v) else repr(v)))
EOF
# The value of sample $2 in parsed file $1 ("" when absent).
val() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }
# Histogram check: the buckets of histogram $3 (default the commit
# durations) of role $2 in parsed file $1 never decrease, the +Inf bucket
# equals the count, and the count is above 0.
hist_ok() {
    awk -v r="role=$2" -v f="${3:-riskpipe_commit_duration_seconds}" '
        index($1, f "_bucket{") == 1 && index($1, r) {
            if (n++ && $2 < last) bad = 1
            last = $2
            if (index($1, "le=+Inf")) inf = $2
        }
        index($1, f "_count{") == 1 && index($1, r) { count = $2 }
        END { exit !(n == 15 && !bad && inf != "" && inf == count && count > 0) }' "$1"
}
# Listening TCP ports of process $1, one per line, sorted.
listening_ports() {
    local inodes
    inodes=$(ls -l "/proc/$1/fd" 2>/dev/null | grep -o 'socket:\[[0-9]*\]' | grep -o '[0-9]*')
    [ -z "$inodes" ] && return 0
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v list="$(echo $inodes)" '
        BEGIN { n = split(list, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
        function hex(h,   i, v) {
            for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789ABCDEF", substr(h, i, 1)) - 1
            return v
        }
        $4 == "0A" && ($10 in want) { split($2, hp, ":"); print hex(hp[2]) }' |
        sort -n
}

# The pipeline, every daemon with its HTTP endpoint on a port of ours.
"$BIN/riskpipe-state" --data "$T/state" --ingest "$(ep 0)" --ingest-pull "$(ep 1)" \
    --work "$(ep 2)" --acks "$(ep 4)" --control "$(ep 5)" --http "127.0.0.1:$(port 10)" \
    2>"$T/state.log" &
PIDS+=($!)
"$BIN/riskpipe-reducer" --data "$T/reducer" --results "$(ep 3)" --acks "$(ep 4)" \
    --control "$(ep 6)" --http "127.0.0.1:$(port 11)" 2>"$T/reducer.log" &
PIDS+=($!)
for i in 1 2; do
    "$BIN/riskpipe-mapper" --work "$(ep 2)" --results "$(ep 3)" \
        --http "127.0.0.1:$(port $((11 + i)))" 2>"$T/mapper$i.log" &
    PIDS+=($!)
done
up=1
wait_s=15
[ -n "${RISKPIPE_SANITIZED:-}" ] && wait_s=60 # sanitized daemons start slower
for i in 10 11 12 13; do wait_for "$wait_s" curl -sf "$(url $i /metrics)" || up=0; done
if [ $up = 1 ]; then
    pass "state, reducer and both mappers serve /metrics"
else
    fail "start-up" "a daemon did not serve /metrics within $wait_s s; logs:"
    tail -n 5 "$T"/*.log
    echo "$passed passed, $failed failed"
    exit 1
fi

# The workload, and riskctl send's own account of it.
"$BIN/riskctl" gen --count 20000 --seed 4 >"$T/work.jsonl"
"$BIN/riskctl" send "$T/work.jsonl" --ingest "$(ep 0)" >"$T/send.out" 2>"$T/send.err"
send_rc=$?
lines=$(sed -nE 's/^riskctl send: ([0-9]+) lines in .*/\1/p' "$T/send.err" | tail -1)
sent_accepted=$(sed -nE 's/.*accepted=([0-9]+).*/\1/p' "$T/send.out")
check "riskctl send delivered the workload" "exit $send_rc, summary '$(cat "$T/send.err")'" -- \
    [ "$send_rc" = 0 -a -n "$lines" -a -n "$sent_accepted" ]
wait_out=$("$BIN/riskctl" wait --state-control "$(ep 5)" --timeout 60 2>&1)
check "riskctl wait: every change aggregated" "$wait_out" -- [ $? = 0 ]
# Three messages the state rejects (a Value beyond 1e12) and dead-letters.
for i in 1 2 3; do
    echo '{"TradeID":"dead-'$i'","Version":1,"Value":5e13,"Timestamp":1,"Hierarchy":{"RiskType":"D","Region":"E","TradeDesk":"F"}}'
done >"$T/dead.jsonl"
"$BIN/riskctl" send "$T/dead.jsonl" --ingest "$(ep 0)" >"$T/dead.out" 2>&1
check "riskctl send of 3 messages out of range: exit 1, 3 rejected" "exit $?, $(cat "$T/dead.out")" -- \
    grep -q 'rejected=3' "$T/dead.out"

# Scrapes each /metrics into $T/NAME.prom and its parsed samples into $T/NAME.s.
scrape() {
    for d in state:10 reducer:11 mapper1:12 mapper2:13; do
        curl -sf --max-time 5 "$(url "${d#*:}" /metrics)" >"$T/${d%%:*}.prom"
    done
}
scrape
if [ -z "$PY" ]; then
    fail "prometheus_client parses /metrics" \
        "no python3 with prometheus_client (Debian python3-prometheus-client; make deps)"
else
    for d in state reducer mapper1 mapper2; do
        check "prometheus_client parses the $d's /metrics" "$(tail -3 "$T/$d.err" 2>/dev/null)" -- \
            "$PY" "$T/samples.py" "$T/$d.prom" >"$T/$d.s" 2>"$T/$d.err"
    done
fi
# promtool comes from Debian's prometheus package: `make deps` extracts it
# into build/tools/promtool (tests/monitoring/monitoring.mk). Missing, it is a
# failure: the exposition is checked by the Prometheus project's own tools.
PROMTOOL=${PROMTOOL:-build/tools/promtool}
if [ -x "$PROMTOOL" ] || command -v "$PROMTOOL" >/dev/null 2>&1; then
    for d in state reducer mapper1 mapper2; do
        out=$("$PROMTOOL" check metrics <"$T/$d.prom" 2>&1)
        check "promtool check metrics: the $d's /metrics" "$out" -- [ $? = 0 ]
    done
else
    fail "promtool check metrics" "no $PROMTOOL (make promtool)"
fi

S=$T/state.s
R=$T/reducer.s
acc=$(val "$S" 'riskpipe_messages_total{result=accepted,role=state}')
dup=$(val "$S" 'riskpipe_messages_total{result=duplicate,role=state}')
check "messages accepted + duplicate = lines sent ($lines)" "accepted $acc + duplicate $dup" -- \
    [ -n "$acc" -a -n "$dup" -a "$((${acc:-0} + ${dup:-0}))" = "${lines:--1}" ]
check "messages accepted = riskctl send's accepted ($sent_accepted)" "metrics say $acc" -- \
    [ "${acc:--1}" = "${sent_accepted:--2}" ]
rej=$(val "$S" 'riskpipe_messages_total{result=rejected,role=state}')
dl=$(val "$S" 'riskpipe_dead_letters{role=state}')
dla=$(val "$S" 'riskpipe_dead_letters_added_total{role=state}')
check "3 messages rejected, 3 dead letters added and in the table" \
    "rejected '$rej', added '$dla', entries '$dl'" -- [ "$rej" = 3 -a "$dla" = 3 -a "$dl" = 3 ]
for r in state reducer; do
    c=$(val "$T/$r.s" "riskpipe_commits_total{role=$r}")
    check "the $r's riskpipe_commits_total > 0" "it is '$c'" -- [ "${c:-0}" -gt 0 ]
    check "the $r's commit-duration buckets never decrease and +Inf = count" \
        "$(grep commit_duration "$T/$r.s" | tr '\n' ' ')" -- hist_ok "$T/$r.s" "$r"
    check "the $r's fsync-duration histogram counts its flushes" \
        "$(grep fsync_duration "$T/$r.s" | tr '\n' ' ')" -- \
        hist_ok "$T/$r.s" "$r" riskpipe_fsync_duration_seconds
    map=$(val "$T/$r.s" "riskpipe_lmdb_map_size_bytes{role=$r}")
    used=$(val "$T/$r.s" "riskpipe_lmdb_used_bytes{role=$r}")
    check "the $r's LMDB used bytes in (0, map size]" "used '$used', map '$map'" -- \
        [ "${used:-0}" -gt 0 -a "${used:-0}" -le "${map:-0}" ]
    rss=$(val "$T/$r.s" "process_resident_memory_bytes{role=$r}")
    fds=$(val "$T/$r.s" "process_open_fds{role=$r}")
    check "the $r's process metrics" "resident '$rss', fds '$fds'" -- \
        [ "${rss:-0}" -gt 1000000 -a "${fds:-0}" -gt 3 ]
done
# Acknowledgements reach the state after the reducer counted the batch: await
# equality rather than read it once.
same_batches() {
    scrape
    "$PY" "$T/samples.py" "$T/state.prom" >"$S" && "$PY" "$T/samples.py" "$T/reducer.prom" >"$R" &&
        [ -n "$(val "$S" 'riskpipe_batches_acked_total{role=state}')" ] &&
        [ "$(val "$S" 'riskpipe_batches_acked_total{role=state}')" = \
          "$(val "$R" 'riskpipe_batches_applied_total{role=reducer}')" ]
}
wait_for 10 same_batches
check "the reducer's applied batches = the state's acknowledged batches" \
    "state acked '$(val "$S" 'riskpipe_batches_acked_total{role=state}')', reducer applied '$(val "$R" 'riskpipe_batches_applied_total{role=reducer}')'" -- same_batches
m1=$(val "$T/mapper1.s" 'riskpipe_batches_mapped_total{role=mapper}')
m2=$(val "$T/mapper2.s" 'riskpipe_batches_mapped_total{role=mapper}')
applied=$(val "$R" 'riskpipe_batches_applied_total{role=reducer}')
check "the mappers mapped at least the batches applied" "$m1 + $m2 < $applied" -- \
    [ -n "$m1" -a -n "$m2" -a "$((${m1:-0} + ${m2:-0}))" -ge "${applied:-1}" ]
lat_n=$(val "$R" 'riskpipe_ingest_to_aggregate_seconds_count{role=reducer}')
check "the reducer's ingest-to-aggregate histogram counts every batch applied ($applied)" \
    "count '$lat_n'" -- hist_ok "$R" reducer riskpipe_ingest_to_aggregate_seconds
check "  ... exactly once each" "count '$lat_n', applied '$applied'" -- [ "${lat_n:--1}" = "${applied:--2}" ]
committed=$(val "$S" 'riskpipe_committed_sequence{role=state}')
check "the reducer's applied sequence = the state's committed sequence, lag 0" \
    "state committed '$committed', reducer $(grep -E 'applied_sequence|lag_changes|state_committed' "$R" | tr '\n' ' ')" -- \
    [ -n "$committed" -a "$(val "$R" 'riskpipe_applied_sequence{role=reducer}')" = "$committed" -a \
      "$(val "$R" 'riskpipe_state_committed_sequence{role=reducer}')" = "$committed" -a \
      "$(val "$R" 'riskpipe_lag_changes{role=reducer}')" = 0 ]

# /v1/status
for d in state:10 reducer:11 mapper:12; do
    curl -sf --max-time 5 "$(url "${d#*:}" /v1/status)" >"$T/${d%%:*}.json"
    check "the ${d%%:*}'s /v1/status is JSON naming its role" "$(head -c 300 "$T/${d%%:*}.json")" -- \
        "${PY:-python3}" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["role"] == sys.argv[2] and d["counters"]' \
        "$T/${d%%:*}.json" "${d%%:*}"
done
check "the state's /v1/status: lag 0, committed = applied" "$(head -c 300 "$T/state.json")" -- \
    "${PY:-python3}" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["lag"] == 0 and d["committed_seq"] == d["applied_seq"] > 0' "$T/state.json"
c=$(code "$(url 10 /nope)")
check "an unknown path is 404 with a JSON error" "status $c" -- \
    [ "$c" = 404 -a "$(curl -s "$(url 10 /nope)")" = '{"error":"not found"}' ]
c=$(code "$(url 10 /metrics)" -X POST -d x=1)
check "POST /metrics is 405" "status $c" -- [ "$c" = 405 ]

# Refusals, with mappers (no port of their own to collide) and a second state.
NOWHERE=(--work "$(ep 30)" --results "$(ep 31)")
timeout 10 "$BIN/riskpipe-mapper" "${NOWHERE[@]}" --http "0.0.0.0:$(port 14)" 2>"$T/notoken.log"
rc=$?
check "--http 0.0.0.0 without --http-token-file refuses to start" \
    "exit $rc: $(tail -2 "$T/notoken.log")" -- \
    [ "$rc" != 0 -a "$rc" != 124 -a -n "$(grep -- '--http-token-file' "$T/notoken.log")" ]
echo "s3cret-$$" >"$T/token"
"$BIN/riskpipe-mapper" "${NOWHERE[@]}" --http "0.0.0.0:$(port 14)" --http-token-file "$T/token" \
    2>"$T/token.log" &
tok_pid=$!
PIDS+=($tok_pid)
wait_for 10 curl -s -o /dev/null "$(url 14 /metrics)"
c=$(code "$(url 14 /metrics)")
check "with a token file, a request without the token gets 401" "status $c" -- [ "$c" = 401 ]
c=$(code "$(url 14 /metrics)" -H "Authorization: Bearer wrong")
check "with a token file, a wrong token gets 401" "status $c" -- [ "$c" = 401 ]
c=$(code "$(url 14 /metrics)" -H "Authorization: Bearer s3cret-$$")
check "with a token file, the token gets 200" "status $c" -- [ "$c" = 200 ]
check "the token mapper listens on its HTTP port" "ports: $(listening_ports $tok_pid | xargs)" -- \
    [ "$(listening_ports $tok_pid | xargs)" = "$(port 14)" ]

# A second state on ports of its own: first on the first state's HTTP port.
STATE2=("$BIN/riskpipe-state" --data "$T/state2" --ingest "$(ep 20)" --ingest-pull "$(ep 21)"
        --work "$(ep 22)" --acks "$(ep 23)" --control "$(ep 24)")
timeout 10 "${STATE2[@]}" --http "127.0.0.1:$(port 10)" 2>"$T/inuse.log"
rc=$?
check "an HTTP port in use: exit non-zero with a clear message" \
    "exit $rc: $(tail -2 "$T/inuse.log")" -- \
    [ "$rc" != 0 -a "$rc" != 124 -a -n "$(grep 'Address already in use' "$T/inuse.log")" ]
"${STATE2[@]}" --http "" 2>"$T/off.log" &
off_pid=$!
PIDS+=($off_pid)
wait_for 10 "$BIN/riskctl" ping state --state-control "$(ep 24)"
want=$(printf '%s\n' "$(port 20)" "$(port 21)" "$(port 22)" "$(port 23)" "$(port 24)" | xargs)
got=$(listening_ports $off_pid | xargs)
check "--http \"\" opens no port (only the 5 ZeroMQ ones)" "listening on: $got" -- [ "$got" = "$want" ]

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
