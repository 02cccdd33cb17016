#!/usr/bin/env bash
# deploy/k8s/make-secret.sh KEYS_DIR: prints the Secret riskpipe-keys (namespace riskpipe) that
# deploy/k8s/riskpipe.yaml mounts, from a key set made by `riskctl keygen KEYS_DIR` plus
# `riskctl keygen KEYS_DIR --producer host` and an HTTP token in KEYS_DIR/http.token (deploy/swarm/deploy.sh
# makes all three). Usage: deploy/k8s/make-secret.sh KEYS_DIR | kubectl apply -f -
# Exits 1 naming the first file missing: a Secret without a key would leave a pod unable to start.
set -euo pipefail
[ $# = 1 ] || { echo "usage: deploy/k8s/make-secret.sh KEYS_DIR" >&2; exit 2; }
dir=$1
# Secret key -> file in the key set (a key may not contain '/', so producers/NAME.cert is producer-NAME.cert)
files=(state.cert reducer.cert mapper.cert riskctl.cert state.cert_secret reducer.cert_secret
       mapper.cert_secret riskctl.cert_secret http.token producer-riskctl.cert:producers/riskctl.cert
       producer-host.cert:producers/host.cert)
for f in "${files[@]}"; do
  [ -s "$dir/${f#*:}" ] || { echo "make-secret.sh: $dir/${f#*:} is missing or empty" >&2; exit 1; }
done
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: riskpipe-keys\n  namespace: riskpipe\n'
printf '  labels: {app.kubernetes.io/part-of: riskpipe}\ntype: Opaque\ndata:\n'
for f in "${files[@]}"; do
  printf '  %s: %s\n' "${f%%:*}" "$(base64 -w0 <"$dir/${f#*:}")"
done
