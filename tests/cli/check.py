#!/usr/bin/env python3
"""tests/cli/check.py: the independent side of tests/cli/run.sh. Computes the expected aggregate
rows from the JSON-lines workloads the suite sent, with no riskpipe code, and checks riskctl's
output against them; also changes one aggregate row of a stopped reducer for the tamper test.
Standard library only (msgpack is read and written by hand); lmdb-utils' mdb_dump and mdb_load
do the LMDB side.

  check.py expected OUT.json WORKLOAD.jsonl...  the rows {path: [value, count]} after sending
                                                 the files in this order
  check.py json EXPECTED.json QUERY.json [PREFIX] riskctl query --json output = the expected rows
                                                 (under PREFIX)
  check.py screen EXPECTED.json CAPTURE DEPTH     riskctl top's screen (tmux capture-pane -p)
                                                 shows every row of levels 1..DEPTH exactly
  check.py tamper REDUCER_DIR PATH               adds 0.000001 to PATH's aggregate row

Exit 0 when the check holds, 1 (with the first differences) when not, 2 on bad input.
Semantics: per TradeID the message with the highest Version wins (equal versions: the first sent
wins); every prefix of RiskType::Region::TradeDesk gets the exact sum of the winners' Values
(rounded to micro-units, ties away from zero) and their count.
"""
import decimal
import json
import re
import subprocess
import sys

MICRO = decimal.Decimal("0.000001")
LEVELS = ("RiskType", "Region", "TradeDesk")


def to_micro(value):
    if isinstance(value, bool):
        raise ValueError("boolean Value")
    d = decimal.Decimal(value.strip() if isinstance(value, str) else value)
    return int((d.quantize(MICRO, rounding=decimal.ROUND_HALF_UP) * 1000000).to_integral_value())


def fmt_micro(n):
    q, r = divmod(abs(n), 1000000)
    return "%s%d.%06d" % ("-" if n < 0 else "", q, r)


def expected(files):
    winners = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                m = json.loads(line, parse_float=decimal.Decimal)
                old = winners.get(m["TradeID"])
                if old is not None and int(m["Version"]) <= old[0]:
                    continue
                h = m["Hierarchy"]
                winners[m["TradeID"]] = (int(m["Version"]), to_micro(m["Value"]),
                                         [str(h[k]) for k in LEVELS])
    totals = {}
    for _v, micro, levels in winners.values():
        for i in range(1, len(levels) + 1):
            key = "::".join(levels[:i])
            s, c = totals.get(key, (0, 0))
            totals[key] = (s + micro, c + 1)
    return {k: [fmt_micro(s), c] for k, (s, c) in totals.items() if (s, c) != (0, 0)}


def under(path, prefix):
    return not prefix or path == prefix or path.startswith(prefix + "::")


def report(want, got, what):
    """Prints the differences between two {path: [value, count]}; returns the exit code."""
    diffs = []
    for p in sorted(set(want) | set(got)):
        if want.get(p) != got.get(p):
            diffs.append("  %s: expected %s, %s shows %s" % (p, want.get(p), what, got.get(p)))
    for d in diffs[:10]:
        print(d)
    if diffs:
        print("%d of %d rows differ" % (len(diffs), len(want)))
        return 1
    return 0


def check_json(exp_file, query_file, prefix):
    want = {p: v for p, v in json.load(open(exp_file)).items() if under(p, prefix)}
    rows = json.load(open(query_file))
    got = {r["path"]: [r["value"], r["count"]] for r in rows}
    if len(got) != len(rows):
        print("a path is listed twice")
        return 1
    if not want:
        print("nothing expected: the check would be vacuous")
        return 2
    return report(want, got, "riskctl query")


ROW = re.compile(r"^( *)(\S+) +(-?[0-9]+\.[0-9]{6}) +([0-9]+) *$")


def check_screen(exp_file, capture, depth):
    """Rows below the PATH header: names indented 2 spaces per level, full paths rebuilt."""
    want = {p: v for p, v in json.load(open(exp_file)).items() if p.count("::") < depth}
    lines = open(capture, encoding="utf-8").read().split("\n")
    try:
        start = next(i for i, l in enumerate(lines) if l.split()[:3] == ["PATH", "TOTAL", "TRADES"])
    except StopIteration:
        print("no PATH TOTAL TRADES header on the screen")
        return 1
    got, stack = {}, []
    for line in lines[start + 1:]:
        m = ROW.match(line)
        if not m:
            continue
        level = len(m.group(1)) // 2
        stack = stack[:level] + [m.group(2)]
        got["::".join(stack)] = [m.group(3), int(m.group(4))]
    return report(want, got, "riskctl top")


def mp_str(s):
    b = s.encode()
    return (bytes([0xa0 | len(b)]) if len(b) < 32 else bytes([0xd9, len(b)])) + b


def mp_int(n):
    if 0 <= n < 128:
        return bytes([n])
    return bytes([0xcf]) + n.to_bytes(8, "big")


def mp_read(b, i):
    """One value of the aggregate row's subset of msgpack: a string or a non-negative int."""
    t = b[i]
    if t < 0x80:
        return t, i + 1
    if 0xa0 <= t <= 0xbf:
        n = t & 0x1f
        return b[i + 1:i + 1 + n].decode(), i + 1 + n
    if t == 0xd9:
        n = b[i + 1]
        return b[i + 2:i + 2 + n].decode(), i + 2 + n
    widths = {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}
    if t in widths:
        w = widths[t]
        return int.from_bytes(b[i + 1:i + 1 + w], "big"), i + 1 + w
    raise ValueError("unexpected msgpack type 0x%02x" % t)


def tamper(env, path):
    dump = subprocess.run(["mdb_dump", "-s", "aggregate", env], capture_output=True, check=True,
                          text=True).stdout.split("\n")
    end = dump.index("HEADER=END")
    key = path.encode().hex()
    rows = dump[end + 1:]
    for i in range(0, len(rows) - 1, 2):
        if rows[i].strip() == key:
            val = bytes.fromhex(rows[i + 1].strip())
            break
    else:
        print("no aggregate row %s" % path)
        return 2
    if val[0] & 0xf0 != 0x80:
        print("row %s is not a msgpack map" % path)
        return 2
    fields, j = {}, 1
    for _ in range(val[0] & 0x0f):
        k, j = mp_read(val, j)
        fields[k], j = mp_read(val, j)
    new_value = fmt_micro(to_micro(fields["value"]) + 1)
    new = bytes([0x82]) + mp_str("value") + mp_str(new_value) + mp_str("count") + \
        mp_int(fields["count"])
    load = "\n".join(dump[:end + 1] + [" " + key, " " + new.hex(), "DATA=END", ""])
    subprocess.run(["mdb_load", "-s", "aggregate", env], input=load, text=True, check=True)
    print("%s: %s -> %s" % (path, fields["value"], new_value))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "expected":
        json.dump(expected(argv[2:]), open(argv[1], "w"), indent=1, sort_keys=True)
        return 0
    if len(argv) in (3, 4) and argv[0] == "json":
        return check_json(argv[1], argv[2], argv[3] if len(argv) == 4 else "")
    if len(argv) == 4 and argv[0] == "screen":
        return check_screen(argv[1], argv[2], int(argv[3]))
    if len(argv) == 3 and argv[0] == "tamper":
        return tamper(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
