#!/usr/bin/env bash
# tests/k8s/run.sh: deploy/k8s/riskpipe.yaml and the Secret deploy/k8s/make-secret.sh prints, checked against
# the Kubernetes API schemas (kubernetes-validate, strict: no unknown field) for the oldest and the newest
# version it carries, then checked for what the schemas cannot see (tests/k8s/check.py): the state a
# StatefulSet of one pod per shard (--shards), each told its shard by its pod index, the reducer one of one
# replica, each with a volume claim, a Deployment for mappers, every endpoint list naming every shard in order, every Secret item a key the
# Secret has, each role given its own key pair and no other role's, flags, ports and Services in agreement.
# A manifest broken on purpose must be refused, and make-secret.sh must refuse an incomplete key set.
# No cluster runs here: nothing is applied (README.md, "Kubernetes").
# Prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/suite.sh
BIN=${RISKPIPE_BIN:-$PWD/bin}
VENV=${RISKPIPE_VENV:-$PWD/.venv}
KV=$VENV/bin/kubernetes-validate
T=$(mktemp -d /tmp/riskpipe-k8s.XXXXXX)
trap 'rm -rf "$T"' EXIT

if [ ! -x "$KV" ]; then
    fail "kubernetes-validate" "$KV missing: run make deps"
    echo "$passed passed, $failed failed"
    exit 1
fi
"$BIN/riskctl" keygen "$T/keys" >/dev/null && "$BIN/riskctl" keygen "$T/keys" --producer host >/dev/null &&
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/keys/http.token"
check "make-secret.sh prints the Secret from a complete key set" "it failed" -- \
    sh -c "deploy/k8s/make-secret.sh '$T/keys' >'$T/secret.yaml'"
oldest=$(ls "$VENV"/lib/python3*/site-packages/kubernetes_validate/kubernetes-json-schema | sed -n 's/^v\(.*\)-local$/\1/p' | sort -V | head -n 1)
newest=$(ls "$VENV"/lib/python3*/site-packages/kubernetes_validate/kubernetes-json-schema | sed -n 's/^v\(.*\)-local$/\1/p' | sort -V | tail -n 1)
for v in "$oldest" "$newest"; do
    if "$KV" --strict --no-warn -k "$v" deploy/k8s/riskpipe.yaml "$T/secret.yaml" >"$T/kv.out" 2>&1; then
        pass "riskpipe.yaml and the Secret valid against the Kubernetes $v schemas (strict): $(grep -c passed "$T/kv.out") resources"
    else
        fail "Kubernetes $v schemas" "$(grep -v passed "$T/kv.out" | head -n 5 | tr '\n' ' ')"
    fi
done
sed -E 's/^  replicas: 2( .*)?$/  replicas: two/' deploy/k8s/riskpipe.yaml >"$T/broken.yaml"
check "a manifest with replicas: two is refused by the validator" "it passed" -- \
    sh -c "! grep -q 'replicas: 2' '$T/broken.yaml' && ! '$KV' --strict --no-warn '$T/broken.yaml' >/dev/null 2>&1"
rm "$T/keys/mapper.cert_secret"
check "make-secret.sh refuses a key set without mapper.cert_secret" "it printed a Secret" -- \
    sh -c "! deploy/k8s/make-secret.sh '$T/keys' >/dev/null 2>&1"
"$VENV/bin/python" tests/k8s/check.py deploy/k8s/riskpipe.yaml "$T/secret.yaml" >"$T/check.out" 2>&1
cat "$T/check.out"
passed=$((passed + $(grep -c '^PASS' "$T/check.out")))
failed=$((failed + $(grep -c '^FAIL' "$T/check.out")))
grep -qE '^(PASS|FAIL)' "$T/check.out" || fail "check.py" "printed nothing: $(tail -n 3 "$T/check.out")"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
