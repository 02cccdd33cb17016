#!/usr/bin/env bash
# The compose monitoring profile's Prometheus configuration and alert rules, checked with promtool (the
# Prometheus project's own checker; `make deps` extracts it from Debian's prometheus package into
# build/tools/promtool): the configuration loads, the rules parse, and the rule unit tests
# (deploy/prometheus/alerts_test.yml) fire each alert on the series it is for and stay quiet otherwise.
# A missing promtool is a failure, not a skip. Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
PROMTOOL=${PROMTOOL:-build/tools/promtool}
passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
T=$(mktemp -d /tmp/riskpipe-monitoring.XXXXXX)
trap 'rm -rf "$T"' EXIT

if ! [ -x "$PROMTOOL" ] && ! command -v "$PROMTOOL" >/dev/null 2>&1; then
    fail "promtool" "$PROMTOOL not found (make promtool)"
    echo "$passed passed, $failed failed"
    exit 1
fi
# The configuration as the image has it, with its absolute paths (/etc/riskpipe, /keys) moved here.
mkdir -p "$T/etc" "$T/keys"
cp deploy/prometheus/alerts.yml "$T/etc/"
echo test-token >"$T/keys/http.token"
sed -e "s|/etc/riskpipe/|$T/etc/|g" -e "s|/keys/|$T/keys/|g" deploy/prometheus/prometheus.yml \
    >"$T/etc/prometheus.yml"
if out=$("$PROMTOOL" check config "$T/etc/prometheus.yml" 2>&1); then
    pass "promtool check config deploy/prometheus/prometheus.yml"
else
    fail "promtool check config deploy/prometheus/prometheus.yml" "$out"
fi
for job in riskpipe-state riskpipe-reducer riskpipe-mapper; do
    if grep -q "job_name: $job\$" deploy/prometheus/prometheus.yml; then
        pass "the configuration scrapes $job"
    else
        fail "the configuration scrapes $job" "no job_name: $job"
    fi
done
if out=$("$PROMTOOL" check rules deploy/prometheus/alerts.yml 2>&1); then
    pass "promtool check rules deploy/prometheus/alerts.yml ($(grep -o '[0-9]* rules found' <<<"$out"))"
else
    fail "promtool check rules deploy/prometheus/alerts.yml" "$out"
fi
if out=$("$PROMTOOL" test rules deploy/prometheus/alerts_test.yml 2>&1); then
    pass "promtool test rules: every alert fires on its series and not on a healthy one"
else
    fail "promtool test rules deploy/prometheus/alerts_test.yml" "$out"
fi
# Every alert of the rules file has a unit test.
for a in $(sed -n 's/^ *- alert: *//p' deploy/prometheus/alerts.yml); do
    if grep -q "alertname: $a\$" deploy/prometheus/alerts_test.yml; then
        pass "alert $a has a unit test"
    else
        fail "alert $a has a unit test" "not named in alerts_test.yml"
    fi
done
# Every metric the rules read is one the daemons export (README.md lists them).
for m in $(grep -o 'riskpipe_[a-z_]*' deploy/prometheus/alerts.yml | sed 's/_bucket$//' | sort -u); do
    if grep -q "$m" svc/metrics.c; then
        pass "the rules' metric $m exists in svc/metrics.c"
    else
        fail "the rules' metric $m exists in svc/metrics.c" "no such metric"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
