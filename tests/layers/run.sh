#!/usr/bin/env bash
# Layering check: each layer includes only the layers below it.
#   common/  libc + LMDB           proto/  + msgpack, common/
#   svc/     + czmq, libmicrohttpd, proto/, common/   processes and tools/: anything below
# riskctl's own libraries (libcurl, ncurses, jansson) stay in tools/.
# One check per layer, each naming every offending include; the last line is
# "N passed, M failed". RISKPIPE_LAYERS_ROOT points it at another tree (used to
# prove the check fails on a tree that breaks the rule).
set -u
cd "${RISKPIPE_LAYERS_ROOT:-$(dirname "$0")/../..}" || exit 2
passed=0
failed=0

# check LAYER FORBIDDEN-REGEX: the project headers (#include "...") and system
# headers (#include <...>) that files of LAYER may not include.
check() {
  local layer=$1 forbidden=$2 bad
  bad=$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]($forbidden)" \
          "$layer"/*.[ch] 2>/dev/null)
  if [ -n "$bad" ]; then
    echo "FAIL $layer/ includes a higher layer or a library it must not use:"
    echo "$bad" | sed 's/^/    /'
    failed=$((failed + 1))
  else
    echo "PASS $layer/ includes only what lies below it"
    passed=$((passed + 1))
  fi
}

procs='\.\./(state|mapper|reducer|tools)/'
ctl='jansson|curl|n?curses'
check common "\.\./(proto|svc)/|$procs|msgpack|czmq|zmq|$ctl|microhttpd|(proto|svc)/"
check proto "\.\./svc/|$procs|czmq|zmq|$ctl|microhttpd|svc/"
check svc "$procs|$ctl"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
