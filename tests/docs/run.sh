#!/usr/bin/env bash
# Keeps the README true: every flag that a binary's --help lists, and every
# riskctl subcommand, must be documented in README.md, and every flag the
# README's tables name must exist. Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${RISKPIPE_BIN:-$PWD/bin}
passed=0
failed=0
check() { # name, then the command whose --help to read
  local name=$1; shift
  local help missing=""
  help=$("$@" --help 2>&1) || { echo "FAIL $name: --help exited non-zero"; failed=$((failed + 1)); return; }
  for f in $(grep -oE -- '--[a-z][a-z-]+' <<<"$help" | sort -u); do
    [ "$f" = "--help" ] && continue
    grep -qF -- "\`$f\`" README.md || grep -qF -- "$f " README.md || missing="$missing $f"
  done
  if [ -z "$missing" ]; then echo "PASS $name"; passed=$((passed + 1))
  else echo "FAIL $name: not in README.md:$missing"; failed=$((failed + 1)); fi
}
for b in riskpipe-state riskpipe-mapper riskpipe-reducer; do check "$b" "$BIN/$b"; done
for c in $("$BIN/riskctl" --help | awk '/^  [a-z]+ /{ print $1 }'); do
  check "riskctl $c" "$BIN/riskctl" "$c"
done
# flags in the README's per-process tables must exist in that process's --help
for b in riskpipe-state riskpipe-mapper riskpipe-reducer; do
  help=$("$BIN/$b" --help)
  table=$(awk -v h="### $b" '$0 == h { on = 1; next } on && /^### |^## / { on = 0 } on' README.md)
  bad=""
  for f in $(grep -oE -- '^\| `--[a-z-]+`' <<<"$table" | grep -oE -- '--[a-z-]+'); do
    grep -qF -- "$f " <<<"$help" || bad="$bad $f"
  done
  if [ -z "$bad" ]; then echo "PASS README table $b"; passed=$((passed + 1))
  else echo "FAIL README table $b: no such flag:$bad"; failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
