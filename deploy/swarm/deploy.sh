#!/usr/bin/env bash
# deploy/swarm/deploy.sh: deploys riskpipe as the Docker Swarm stack NAME (deploy/swarm/stack.yml).
#
# Usage: deploy/swarm/deploy.sh NAME [KEYS_DIR]
#   KEYS_DIR (default ./swarm-keys/NAME) holds the pipeline's CURVE key set; when it has none, it is made
#   here with riskctl keygen, with a producer key pair for the host in KEYS_DIR/producer-keys/host.cert_secret
#   and an HTTP bearer token in KEYS_DIR/http.token. Every file goes into the swarm as a config (public
#   keys) or a secret (key pairs, token) of the stack; keep KEYS_DIR private, or delete all of it but what
#   a producer needs (state.cert, reducer.cert and its key pair) once the stack is deployed.
#   The state shards and the reducer are pinned to the nodes labelled riskpipe.state0=true,
#   riskpipe.state1=true and riskpipe.reducer=true;
#   when no node has a label, the node running this script gets it (say so on a multi-node swarm first).
# Environment: RISKPIPE_IMAGE (riskpipe:latest), RISKPIPE_INGEST_PORT (5555, shard 0),
# RISKPIPE_INGEST_PORT_1 (5565, shard 1), RISKPIPE_DASHBOARD_PORT
# (8080), RISKPIPE_LOG_LEVEL (info), RISKCTL (the riskctl that makes the keys: bin/riskctl when built,
# else the image's).
# Remove with: docker stack rm NAME (then docker volume rm NAME_state0-data NAME_state1-data
# NAME_reducer-data on the labelled nodes to delete the data).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n '4,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
NAME=$1
KEYS=${2:-swarm-keys/$NAME}
IMAGE=${RISKPIPE_IMAGE:-riskpipe:latest}
say() { echo "deploy.sh: $*" >&2; }

[ "$(docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active ] &&
  [ "$(docker info -f '{{.Swarm.ControlAvailable}}')" = true ] ||
  { say "this Docker engine is not a swarm manager (docker swarm init, or run this on a manager)"; exit 1; }
docker image inspect "$IMAGE" >/dev/null 2>&1 ||
  { say "no image $IMAGE here (docker build -f deploy/Dockerfile -t $IMAGE .)"; exit 1; }

riskctl() {
  if [ -n "${RISKCTL:-}" ]; then "$RISKCTL" "$@"
  elif [ -x "$ROOT/bin/riskctl" ]; then "$ROOT/bin/riskctl" "$@"
  else # the image's riskctl, writing into KEYS as this user
    docker run --rm --user "$(id -u):$(id -g)" -v "$(realpath "$KEYS"):/keys" --entrypoint riskctl "$IMAGE" \
      "$1" /keys "${@:3}"
  fi
}
if [ ! -e "$KEYS/state.cert" ]; then
  mkdir -p "$KEYS" && chmod 700 "$KEYS"
  riskctl keygen "$KEYS" >/dev/null
  riskctl keygen "$KEYS" --producer host >/dev/null
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEYS/http.token")
  say "made the key set in $KEYS (the host producer's key pair: $KEYS/producer-keys/host.cert_secret)"
fi
for f in state.cert reducer.cert mapper.cert riskctl.cert producers/riskctl.cert producers/host.cert \
         state.cert_secret reducer.cert_secret mapper.cert_secret riskctl.cert_secret http.token; do
  [ -s "$KEYS/$f" ] || { say "$KEYS/$f is missing or empty: not a complete key set"; exit 1; }
done

for role in state0 state1 reducer; do
  if [ -z "$(docker node ls -q --filter "node.label=riskpipe.$role=true")" ]; then
    docker node update --label-add "riskpipe.$role=true" "$(docker info -f "{{.Swarm.NodeID}}")" >/dev/null
    say "labelled this node riskpipe.$role=true (no node had the label)"
  fi
done

RISKPIPE_SWARM_KEYS="$(realpath "$KEYS")" RISKPIPE_IMAGE="$IMAGE" \
  docker stack deploy --prune -c "$ROOT/deploy/swarm/stack.yml" "$NAME"
