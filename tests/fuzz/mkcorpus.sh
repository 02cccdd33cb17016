#!/usr/bin/env bash
# Regenerates the committed seed corpus tests/fuzz/corpus/<target>/ with
# gen_corpus.c, which uses the real encoders. Run it after a wire format change.
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CC:-cc}
out=build/fuzz
mkdir -p "$out"
# shellcheck disable=SC2046
$CC -std=c11 -D_GNU_SOURCE -O1 -g -o "$out/gen_corpus" tests/fuzz/gen_corpus.c \
  common/*.c proto/*.c $(pkg-config --cflags --libs msgpack lmdb libutf8proc) -lm
rm -rf tests/fuzz/corpus
"$out/gen_corpus" tests/fuzz/corpus
echo "seed corpus: $(find tests/fuzz/corpus -type f | wc -l) files," \
  "$(cat tests/fuzz/corpus/*/* | wc -c) bytes"
