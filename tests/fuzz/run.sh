#!/usr/bin/env bash
# Builds the libFuzzer targets tests/fuzz/fuzz_*.c into build/fuzz/ and runs
# each for FUZZ_SECONDS (default 10) seconds, after replaying its saved
# crashers (tests/fuzz/crashers/<target>/) as regression inputs. Each target
# is one test; the last line is "N passed, M failed". Without clang or its
# fuzzer runtime the suite is skipped, not failed.
#
# Environment: FUZZ_SECONDS (run time per target), FUZZ_TARGETS (space-separated
# subset, e.g. "ingest mp"), FUZZ_CC (default clang), FUZZ_BUILD (default
# build/fuzz), FUZZ_ARGS (extra libFuzzer flags), FUZZ_CFLAGS (extra compiler
# flags).
set -euo pipefail
cd "$(dirname "$0")/../.."

FUZZ_SECONDS=${FUZZ_SECONDS:-10}
CLANG=${FUZZ_CC:-clang}
OUT=${FUZZ_BUILD:-build/fuzz}
read -r -a TARGETS <<<"${FUZZ_TARGETS:-ingest frames reply money mp tables}"
read -r -a EXTRA <<<"${FUZZ_ARGS:-}"
# Every codec lives in proto/ over common/ (libc + LMDB + utf8proc): both
# layers link as they are, without czmq (tests/layers keeps it so).
SRCS=(common/*.c proto/*.c)
FLAGS=(-g -O1 "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=undefined -std=c11
       -D_GNU_SOURCE)
read -r -a FLAGS_EXTRA <<<"${FUZZ_CFLAGS:-}"
FLAGS+=(${FLAGS_EXTRA[@]+"${FLAGS_EXTRA[@]}"})

skip() {
  echo "SKIPPED: $1"
  echo "0 passed, 0 failed"
  exit 0
}

command -v "$CLANG" >/dev/null 2>&1 || skip "$CLANG not found"
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists msgpack lmdb libutf8proc; then
  skip "msgpack-c, LMDB or utf8proc not found by pkg-config"
fi
read -r -a MP_CFLAGS <<<"$(pkg-config --cflags msgpack lmdb libutf8proc)"
read -r -a MP_LIBS <<<"$(pkg-config --libs msgpack lmdb libutf8proc)"
mkdir -p "$OUT/obj" "$OUT/logs"
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
  'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return d && n == 0; }' \
  >"$OUT/probe.c"
"$CLANG" "${FLAGS[@]}" "$OUT/probe.c" -o "$OUT/probe" >/dev/null 2>&1 ||
  skip "$CLANG cannot link -fsanitize=fuzzer,address,undefined (install libclang-rt-dev)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/riskpipe-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Project sources are compiled once; a failure there fails every target.
objs=()
build_ok=1
for src in "${SRCS[@]}"; do
  obj="$OUT/obj/$(basename "${src%.c}").o"
  if ! "$CLANG" "${FLAGS[@]}" ${MP_CFLAGS[@]+"${MP_CFLAGS[@]}"} -c "$src" -o "$obj" 2>"$WORK/cc.log"; then
    echo "!! compiling $src failed:"
    cat "$WORK/cc.log"
    build_ok=0
  fi
  objs+=("$obj")
done

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"

passed=0
failed=0
for t in "${TARGETS[@]}"; do
  name=fuzz_$t
  bin=$OUT/$name
  log=$OUT/logs/$name.log
  if [ "$build_ok" -ne 1 ] ||
    ! "$CLANG" "${FLAGS[@]}" "tests/fuzz/$name.c" "${objs[@]}" \
      ${MP_CFLAGS[@]+"${MP_CFLAGS[@]}"} ${MP_LIBS[@]+"${MP_LIBS[@]}"} -lm -o "$bin" \
      2>"$WORK/cc.log"; then
    cat "$WORK/cc.log"
    echo "FAIL $name (build)"
    failed=$((failed + 1))
    continue
  fi

  # Known crashers first: each must now run clean.
  crash_dir=tests/fuzz/crashers/$t
  if [ -d "$crash_dir" ] && [ -n "$(ls -A "$crash_dir")" ]; then
    rc=0
    "$bin" "$crash_dir"/* >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
      bad=$(grep -oE 'Running: .*' "$log" | tail -1 | sed 's/^Running: //')
      grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz invariant failed|.*runtime error)' "$log" | head -5
      echo "FAIL $name (saved crasher ${bad:-in $crash_dir} still fails; log $log)"
      failed=$((failed + 1))
      continue
    fi
  fi

  # Fuzz on a scratch corpus; the committed seeds (and a local corpus-run/
  # collection, if any) are only read.
  corpus=$WORK/$t
  mkdir -p "$corpus" "$OUT/artifacts/$t"
  dirs=("$corpus" "tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/corpus-run/$t" ] && dirs+=("tests/fuzz/corpus-run/$t")
  rc=0
  timeout -k 10 $((FUZZ_SECONDS + 300)) "$bin" -max_total_time="$FUZZ_SECONDS" \
    -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/$t/" ${EXTRA[@]+"${EXTRA[@]}"} "${dirs[@]}" \
    >"$log" 2>&1 || rc=$?
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    echo "PASS $name (${execs:-?} execs)"
    passed=$((passed + 1))
  else
    crash=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz invariant failed|.*runtime error)' "$log" | head -5
    echo "FAIL $name (exit $rc; crash file ${crash:-none}; log $log)"
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
