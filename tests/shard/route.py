#!/usr/bin/env python3
"""tests/shard/route.py: riskpipe's shard routing written again from its documentation
(proto/shard.h), with no riskpipe code: a trade belongs to shard FNV-1a-64(TradeID bytes) mod K.
A producer in another language routes the same way; tests/shard/run.sh uses this one to check
where the state shards put every trade.

  route.py shard K TRADEID...          prints each TradeID's shard
  route.py pick K SHARD N PREFIX       prints N TradeIDs PREFIX-<i> that belong to SHARD
  route.py placed K DIR0 DIR1 ...      reads every shard's state table (mdb_dump) and checks
                                       that each trade is in the shard of its TradeID; prints
                                       the trades per shard

Exit 0 when the check holds, 1 when not, 2 on bad input. Standard library only.
"""
import re
import subprocess
import sys

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a64(data):
    h = FNV_OFFSET
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def shard_of(trade_id, k):
    return fnv1a64(trade_id.encode()) % k if k > 1 else 0


def dump_keys(env):
    """The keys of the state table of the LMDB environment env (mdb_dump -p)."""
    out = subprocess.run(["mdb_dump", "-p", "-s", "state", env], check=True,
                         capture_output=True).stdout.decode("latin-1").splitlines()
    keys, data, first = [], False, True
    for line in out:
        if line == "HEADER=END":
            data = True
            continue
        if line == "DATA=END":
            break
        if not data:
            continue
        if first:  # key lines and value lines alternate
            raw = re.sub(r"\\([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)),
                         line[1:].replace("\\\\", "\\5c"))
            keys.append(raw)
        first = not first
    return keys


def main(argv):
    if len(argv) >= 3 and argv[0] == "shard":
        k = int(argv[1])
        for t in argv[2:]:
            print(shard_of(t, k))
        return 0
    if len(argv) == 5 and argv[0] == "pick":
        k, want, n, prefix = int(argv[1]), int(argv[2]), int(argv[3]), argv[4]
        i = 0
        while n:
            t = "%s-%d" % (prefix, i)
            if shard_of(t, k) == want:
                print(t)
                n -= 1
            i += 1
        return 0
    if len(argv) >= 3 and argv[0] == "placed":
        k, dirs = int(argv[1]), argv[2:]
        if len(dirs) != k:
            print("placed: %d directories for K=%d" % (len(dirs), k))
            return 2
        bad, counts = 0, []
        for i, d in enumerate(dirs):
            keys = dump_keys(d)
            counts.append(len(keys))
            for t in keys:
                if shard_of(t, k) != i:
                    bad += 1
                    if bad <= 5:
                        print("trade %r is in shard %d, belongs to %d" % (t, i, shard_of(t, k)))
        print("trades per shard: %s; misplaced: %d" % (counts, bad))
        return 1 if bad else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
