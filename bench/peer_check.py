#!/usr/bin/env python3
"""bench/peer_check.py: checks a comparison peer's aggregate table against totals computed from the
workload independently of riskpipe's and the peer's code (tests/compose/check_aggregates.py).

Usage: peer_check.py WORKLOAD.jsonl DUMP.tsv   (exit 0: every row equal, 1: mismatch, 2: bad input)

DUMP.tsv has one line per aggregate row, "path<TAB>sum in micro-units<TAB>count", as bench-pg-load
and bench-redis-load --dump write it. Rows with count 0 and sum 0 are taken as absent.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "compose"))
import check_aggregates  # noqa: E402  (the independent model of riskpipe's semantics)


def dump_rows(path):
    """DUMP.tsv -> {path: (value string with 6 decimals, count)}."""
    rows = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            parts = line.rsplit("\t", 2)
            if len(parts) != 3:
                raise ValueError("%s:%d: not path<TAB>micro<TAB>count: %r" % (path, n, line))
            key, micro, count = parts[0], int(parts[1]), int(parts[2])
            if key in rows:
                raise ValueError("%s:%d: path %r appears twice" % (path, n, key))
            if count == 0 and micro == 0:
                continue
            rows[key] = (check_aggregates.fmt_micro(micro), count)
    return rows


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[3], file=sys.stderr)
        return 2
    try:
        want, trades = check_aggregates.expected_rows(argv[1])
        got = dump_rows(argv[2])
    except (OSError, ValueError, KeyError, check_aggregates.decimal.InvalidOperation) as e:
        print("peer_check: %s" % e, file=sys.stderr)
        return 2
    bad = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    print("aggregate rows: expected %d (from %d winning trades), found %d, differing %d"
          % (len(want), trades, len(got), len(bad)), file=sys.stderr)
    for k in bad[:20]:
        print("  %s: expected %s, found %s" % (k, want.get(k, "absent"), got.get(k, "absent")),
              file=sys.stderr)
    if len(bad) > 20:
        print("  ... and %d more" % (len(bad) - 20), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
