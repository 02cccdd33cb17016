#!/usr/bin/env bash
# The reducer's web dashboard (reducer/web/, served at / by riskpipe-reducer),
# driven in headless Chromium through Selenium. A pipeline of state, two
# mappers and a reducer with --http on ports of this suite, and a second,
# token-protected reducer (--http-token-file) on 127.0.0.1. Here: the static
# files over HTTP (types with charset, the bytes of the tree, nothing loaded
# from elsewhere, no token needed). Then tests/web/dashboard.py opens the page
# and checks it against totals computed independently from the generated
# workloads (tests/compose/check_aggregates.py): live updates, the second
# batch within one second of riskctl send returning, expanding to level 3,
# the charts, a reducer restart (reconnecting, then live), and the token flow.
# Screenshots go to build/test-artifacts/dashboard*.png. Prints PASS/FAIL per
# check and ends with "N passed, M failed"; a check that cannot run fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${RISKPIPE_BIN:-$PWD/bin}
ART=${RISKPIPE_ARTIFACTS:-$PWD/${BUILD:-build}/test-artifacts}
T=$(mktemp -d /tmp/riskpipe-web.XXXXXX)
# 20 ports of our own in 18000-18999 (tests/lib/ports.sh): below the kernel's
# ephemeral ports matters here, because the reducer is restarted while mappers
# and the browser reconnect to it, and a client could otherwise get its port
# as a source port (TCP self-connect).
. tests/lib/suite.sh
. tests/lib/ports.sh
pick_ports 18000 50 20 || exit 1
PIDS=()

cleanup() {
    local p
    # dashboard.py records a reducer it restarted here.
    [ -s "$T/reducer.pid" ] && PIDS+=("$(cat "$T/reducer.pid")")
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
    done
    rm -rf "$T"
}
trap cleanup EXIT

port() { echo $((BASE + $1)); }
ep() { echo "tcp://127.0.0.1:$(port "$1")"; }
url() { echo "http://127.0.0.1:$(port "$1")$2"; }

# What the browser part needs: Debian's chromium, chromium-driver and
# python3-selenium (for /usr/bin/python3; `make deps` installs them).
PY=""
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import selenium' 2>/dev/null; then
        PY=$p
        break
    fi
done
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
CHROMEDRIVER=${CHROMEDRIVER:-$(command -v chromedriver || true)}
missing=""
[ -n "$PY" ] || missing="$missing python3-selenium"
[ -n "$CHROMIUM" ] || missing="$missing chromium"
[ -n "$CHROMEDRIVER" ] || missing="$missing chromium-driver"
if [ -n "$missing" ]; then
    fail "browser tools" "missing:$missing (Debian packages; make deps installs them)"
    finish
fi
pass "chromium, chromedriver and selenium are installed"

# The pipeline; only the reducer serves HTTP. Its command line is kept so
# that dashboard.py can restart it on the same data.
"$BIN/riskpipe-state" --data "$T/state" --ingest "$(ep 0)" --ingest-pull "$(ep 1)" \
    --work "$(ep 2)" --acks "$(ep 4)" --control "$(ep 5)" --http "" 2>"$T/state.log" &
PIDS+=($!)
REDUCER=("$BIN/riskpipe-reducer" --data "$T/reducer" --results "$(ep 3)" --acks "$(ep 4)"
         --control "$(ep 6)" --http "127.0.0.1:$(port 10)")
"${REDUCER[@]}" 2>"$T/reducer.log" &
reducer_pid=$!
PIDS+=($reducer_pid)
for i in 1 2; do
    "$BIN/riskpipe-mapper" --work "$(ep 2)" --results "$(ep 3)" --http "" 2>"$T/mapper$i.log" &
    PIDS+=($!)
done
# The token reducer: alone, on ports of its own.
# "+", "/" and "=" as in a base64 token: the page must not mangle them.
TOKEN="web+$$/$RANDOM$RANDOM=="
echo "$TOKEN" >"$T/token"
"$BIN/riskpipe-reducer" --data "$T/reducer-token" --results "$(ep 13)" --acks "$(ep 14)" \
    --control "$(ep 15)" --http "127.0.0.1:$(port 11)" --http-token-file "$T/token" \
    2>"$T/reducer-token.log" &
PIDS+=($!)

wait_s=15
[ -n "${RISKPIPE_SANITIZED:-}" ] && wait_s=60 # sanitized daemons start slower
if wait_for "$wait_s" curl -sf "$(url 10 /v1/status)" &&
    wait_for "$wait_s" curl -sf -H "Authorization: Bearer $TOKEN" "$(url 11 /v1/status)" &&
    wait_for "$wait_s" "$BIN/riskctl" ping state --state-control "$(ep 5)"; then
    pass "state, mappers and both reducers are up"
else
    fail "start-up" "a daemon did not answer within $wait_s s; logs:"
    tail -n 5 "$T"/*.log
    finish
fi

# The static files: status, Content-Type, the bytes of reducer/web/.
# static NAME URL-PATH FILE TYPE [curl options]
static() {
    local name=$1 path=$2 file=$3 type=$4
    shift 4
    local got code ctype
    got=$(curl -s -o "$T/body" -w '%{http_code} %{content_type}' --max-time 5 "$@" "$(url 10 "$path")")
    code=${got%% *}
    ctype=${got#* }
    if [ "$code" = 200 ] && [ "$ctype" = "$type" ] && cmp -s "$T/body" "$file"; then
        pass "GET $path ($name): 200, $type, the bytes of $file"
    else
        fail "GET $path ($name)" "status $code, type '$ctype', $(wc -c <"$T/body") bytes (want 200, '$type', $file)"
    fi
}
static page / reducer/web/index.html "text/html; charset=utf-8"
static page "/?x=1" reducer/web/index.html "text/html; charset=utf-8"
static script /app.js reducer/web/app.js "text/javascript; charset=utf-8"
static style /style.css reducer/web/style.css "text/css; charset=utf-8"
# Nothing loads from elsewhere: every src/href of the page is a relative
# path (or the empty data: icon), no file names a scheme, the CSS imports
# nothing and fetches no url().
refs=$(grep -oE '(src|href)="[^"]*"' reducer/web/index.html | sed -E 's/^[a-z]+="(.*)"$/\1/')
bad=$(grep -vE '^(data:,|[A-Za-z0-9_.-]+)$' <<<"$refs" | xargs)
check "the page's src/href are relative paths: $(echo $refs)" "offending: $bad" -- \
    [ -n "$refs" -a -z "$bad" ]
bad=$(grep -nE '[a-z]+://|(^|[^:])//[a-z0-9.-]+\.[a-z]{2,}/' reducer/web/index.html reducer/web/app.js \
    reducer/web/style.css)
check "no web file names a URL with a scheme or a host" "$bad" -- [ -z "$bad" ]
bad=$(grep -nE '@import|url\(' reducer/web/style.css)
check "the style sheet imports and fetches nothing" "$bad" -- [ -z "$bad" ]
c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(url 11 /)")
c2=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(url 11 /app.js)")
c3=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(url 11 /v1/status)")
check "token reducer: / and /app.js need no token (200), /v1/status does (401)" \
    "/ $c, /app.js $c2, /v1/status $c3" -- [ "$c" = 200 -a "$c2" = 200 -a "$c3" = 401 ]

mkdir -p "$ART"
"$PY" tests/web/dashboard.py --url "$(url 10 /)" --token-url "$(url 11 /)" --token "$TOKEN" \
    --riskctl "$BIN/riskctl" --ingest "$(ep 0)" --work "$T" \
    --artifacts "$ART" --chromium "$CHROMIUM" --chromedriver "$CHROMEDRIVER" \
    --reducer-pid "$reducer_pid" --reducer-log "$T/reducer.log" --reducer-pidfile "$T/reducer.pid" \
    -- "${REDUCER[@]}" | tee "$T/driver.out"
rc=${PIPESTATUS[0]}
p=$(grep -c '^PASS ' "$T/driver.out")
f=$(grep -c '^FAIL ' "$T/driver.out")
passed=$((passed + p))
failed=$((failed + f))
if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    fail "dashboard.py" "exited $rc without naming a failed check"
fi
if [ "$failed" != 0 ]; then
    echo "-- daemon logs (last lines):"
    for l in "$T"/state.log "$T"/mapper*.log "$T"/reducer*.log; do echo "# $l"; tail -n 5 "$l"; done
fi
finish
