#!/usr/bin/env python3
"""tests/compose/check_aggregates.py: compares the reducer's `aggregate` table (an `mdb_dump -s aggregate`
dump) with totals computed here, independently of riskpipe's code, from the JSON-lines workload.

Usage: check_aggregates.py WORKLOAD.jsonl DUMP.txt   (exit 0: every row equal, 1: mismatch, 2: bad input)

Expected semantics: per TradeID the message with the highest Version wins (equal versions: the first one in
the file wins); every prefix of RiskType::Region::TradeDesk of the winner gets the exact sum of Values
(each rounded to micro-units, ties away from zero) and the number of trades. Dump rows with count 0 and
value 0 may be present or absent. Standard library only; msgpack is decoded by hand.
"""
import decimal
import json
import sys

MICRO = decimal.Decimal("0.000001")
LEVELS = ("RiskType", "Region", "TradeDesk")


def to_micro(value):
    """Value (JSON string, int or decimal number) -> integer micro-units, ties away from zero."""
    if isinstance(value, bool):
        raise ValueError("boolean Value")
    d = decimal.Decimal(value.strip() if isinstance(value, str) else value)
    if not d.is_finite():
        raise ValueError("non-finite Value")
    return int((d.quantize(MICRO, rounding=decimal.ROUND_HALF_UP) * 1000000).to_integral_value())


def fmt_micro(n):
    sign = "-" if n < 0 else ""
    q, r = divmod(abs(n), 1000000)
    return "%s%d.%06d" % (sign, q, r)


def expected_rows(path):
    """Workload file -> {aggregate key: (value string, count)}."""
    winners = {}  # TradeID -> (version, micro, path)
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            m = json.loads(line, parse_float=decimal.Decimal)
            version = int(m["Version"])
            old = winners.get(m["TradeID"])
            if old is not None and version <= old[0]:
                continue  # stale or equal version: the first received stays
            hier = m["Hierarchy"]
            winners[m["TradeID"]] = (version, to_micro(m["Value"]), [str(hier[k]) for k in LEVELS])
    totals = {}
    for _version, micro, levels in winners.values():
        for i in range(1, len(levels) + 1):
            key = "::".join(levels[:i])
            s, c = totals.get(key, (0, 0))
            totals[key] = (s + micro, c + 1)
    return {k: (fmt_micro(s), c) for k, (s, c) in totals.items()}, len(winners)


class Msgpack:
    """Just enough of msgpack for the aggregate values: maps, strings, integers, nil, bool, bin."""

    def __init__(self, data):
        self.b, self.i = data, 0

    def take(self, n):
        if self.i + n > len(self.b):
            raise ValueError("truncated msgpack")
        out = self.b[self.i:self.i + n]
        self.i += n
        return out

    def uint(self, n):
        return int.from_bytes(self.take(n), "big")

    def sint(self, n):
        return int.from_bytes(self.take(n), "big", signed=True)

    def obj(self):
        t = self.uint(1)
        if t <= 0x7F:
            return t
        if t >= 0xE0:
            return t - 0x100
        if 0x80 <= t <= 0x8F:
            return self.map(t & 0x0F)
        if 0xA0 <= t <= 0xBF:
            return self.take(t & 0x1F).decode("utf-8")
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if t in simple:
            return simple[t]
        if t in (0xD9, 0xDA, 0xDB):
            return self.take(self.uint(1 << (t - 0xD9))).decode("utf-8")
        if t in (0xC4, 0xC5, 0xC6):
            return self.take(self.uint(1 << (t - 0xC4))).decode("utf-8")
        if 0xCC <= t <= 0xCF:
            return self.uint(1 << (t - 0xCC))
        if 0xD0 <= t <= 0xD3:
            return self.sint(1 << (t - 0xD0))
        if t in (0xDE, 0xDF):
            return self.map(self.uint(2 if t == 0xDE else 4))
        raise ValueError("unsupported msgpack type 0x%02x" % t)

    def map(self, n):
        return {self.obj(): self.obj() for _ in range(n)}


def decode_value(raw):
    p = Msgpack(raw)
    v = p.obj()
    if p.i != len(raw) or not isinstance(v, dict) or "value" not in v or "count" not in v:
        raise ValueError("not a {value, count} map: %s" % raw.hex())
    return str(v["value"]), int(v["count"])


def dump_rows(path):
    """`mdb_dump` output (hex form, one database) -> {key: (value string, count)}."""
    rows, lines, in_data = {}, [], False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line == "HEADER=END":
                in_data = True
            elif line == "DATA=END":
                in_data = False
            elif in_data and line.startswith(" "):
                lines.append(bytes.fromhex(line.strip()))
    if len(lines) % 2:
        raise ValueError("odd number of data lines in the dump")
    for k, v in zip(lines[0::2], lines[1::2]):
        rows[k.decode("utf-8")] = decode_value(v)
    return rows


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        want, trades = expected_rows(argv[1])
        got = dump_rows(argv[2])
    except (OSError, ValueError, KeyError, decimal.InvalidOperation) as e:
        print("check_aggregates: %s" % e, file=sys.stderr)
        return 2
    # Rows that are zero with count 0 are equivalent to absent ones.
    got = {k: v for k, v in got.items() if not (v[1] == 0 and v[0] in ("0.000000", "-0.000000"))}
    bad = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    print("aggregate rows: expected %d (from %d winning trades), found %d, differing %d"
          % (len(want), trades, len(got), len(bad)))
    if bad:
        print("differences (key: expected -> found):")
        for k in bad[:100]:
            print("  %s: %s -> %s" % (k, want.get(k, "absent"), got.get(k, "absent")))
        if len(bad) > 100:
            print("  ... and %d more" % (len(bad) - 100))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
