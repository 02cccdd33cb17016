#!/usr/bin/env python3
"""bench/report.py: the tables `make bench` prints, from the raw result lines
bench/run.sh collected (one "<kind> key=value ..." line per run).

Usage: report.py RESULTS   (exit 0; 1 when a system has no result)
"""
import os
import statistics
import sys


def parse(path):
    runs = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            if not kv:
                continue
            if words[1].endswith(":"):  # "latency idle: ..." names its mode
                kv = dict(mode=words[1][:-1], **kv)
            runs.setdefault(words[0], []).append(kv)
    return runs


def rates(rows):
    return [float(r["msgs"]) / float(r["seconds"]) for r in rows]


def k(x):
    return "%.0fk" % (x / 1000)


LATENCY = [  # (mode, key, goal in ms or None)
    ("idle", "ack_p99_ms", None), ("idle", "visible_p50_ms", None),
    ("idle", "visible_p99_ms", 3.0),
    ("load20k", "ack_p99_ms", None), ("load20k", "visible_p50_ms", None),
    ("load20k", "visible_p99_ms", 10.0), ("load20k", "load_rate", None),
    ("burst", "ack_all_ms", None), ("burst", "visible_all_ms", 100.0)]


def latency_table(rows):
    """Medians and ranges over the latency runs, one row per figure."""
    print("| mode | figure | median | range | runs | goal |")
    print("|---|---|---|---|---|---|")
    for mode, key, goal in LATENCY:
        xs = [float(r[key]) for r in rows if r.get("mode") == mode and key in r]
        if not xs:
            continue
        med = statistics.median(xs)
        verdict = "" if goal is None else ("<= %g: %s" % (goal, "met" if med <= goal else
                                                           "NOT met"))
        print("| %s | %s | %.2f | %.2f-%.2f | %d | %s |"
              % (mode, key, med, min(xs), max(xs), len(xs), verdict))
    fails = sum(int(r.get("failures", 0)) for r in rows)
    print()
    print("probe failures over all runs: %d" % fails)


def shards_table(runs):
    """The K-shard runs on this machine; the per-message CPU cost of each kind
    of process, measured in them; the bound that cost sets on this machine
    (checked against the runs), and what it predicts for K shards on K hosts."""
    rows = runs["shards"]
    ks = sorted({int(r["shards"]) for r in rows})
    print("| K shards | runs | median s | median msg/s | range msg/s | CPU us/msg: states"
          " (their writer threads), mappers, reducer, send | predicted here | reducer frames |")
    print("|---|---|---|---|---|---|---|---|")
    cost = {}
    for kk in ks:
        rr = [r for r in rows if int(r["shards"]) == kk]
        rt = rates(rr)
        for r in rr:  # results from before the writer thread was measured apart
            r.setdefault("cpu_writer", r["cpu_state"])
        per = [statistics.median(float(r[c]) / float(r["msgs"]) * 1e6 for r in rr)
               for c in ("cpu_state", "cpu_mappers", "cpu_reducer", "cpu_send", "cpu_writer")]
        cost[kk] = per
        # each state's writer thread has at most one core; all the threads of
        # all the processes share CORES
        pred = min(min(kk, CORES) * 1e6 / per[4], CORES * 1e6 / sum(per[:4]))
        print("| %d | %d | %.2f | %s | %s - %s | %.2f (%.2f), %.2f, %.2f, %.2f | %s | %d |"
              % (kk, len(rr), statistics.median(float(r["seconds"]) for r in rr),
                 k(statistics.median(rt)), k(min(rt)), k(max(rt)), per[0], per[4], per[1],
                 per[2], per[3], k(pred), statistics.median(int(r["batches"]) for r in rr)))
    c_state = cost[ks[0]][4]
    print()
    print("predicted here = min(min(K, %d cores) / writer CPU per message, %d cores / all the"
          " CPU per message): each state process has one LMDB writer thread on one core (its"
          " second thread decodes ahead of it), so with K=1 that thread alone bounds the"
          " pipeline; with K >= %d shards the writers use every core and the bound is the"
          " machine's CPU. The measured rates fall short of it by the fsync waits and"
          " hand-offs the CPU figures do not count." % (CORES, CORES, CORES))
    one = [r for r in rows if int(r["shards"]) == ks[0]]
    msgs_per_batch = statistics.median(float(r["msgs"]) / float(r["batches"]) for r in one)
    ceil = runs.get("reducer_ceiling")
    red = None
    if ceil:
        fps = statistics.median(float(r["frames_per_s"]) for r in ceil)
        red = fps * msgs_per_batch
        print()
        print("Reducer ceiling (bench-reducer-ceiling: a lone reducer fed RESULT frames of 1024"
              " changes on 150 paths, group commits fsynced): median %.0f frames/s over %d"
              " runs; at %.0f messages per batch as in the K=%d runs, %s msg/s."
              % (fps, len(ceil), msgs_per_batch, ks[0], k(red)))
    # K shards on K hosts: each state's writer has a core of its own and needs
    # c_state CPU-us per message (the K=1 figure: a shard holding every trade,
    # the dearest), its decoding thread another core of the host; mappers and
    # producers run on hosts of their own, enough of them; one reducer
    # applies everything.
    shard_rate = 1e6 / c_state
    print()
    print("Model, K shards on K hosts (one state per host; mappers and producers on hosts of"
          " their own, enough of them; one reducer): msg/s = min(K x %s (a state's writer"
          " thread at %.2f CPU-us/msg, the K=%d figure), reducer ceiling %s)."
          % (k(shard_rate), c_state, ks[0], k(red) if red else "?"))
    print()
    print("| hosts = K | predicted msg/s | limited by |")
    print("|---|---|---|")
    for kk in (1, 2, 4, 8, 16, 32, 64):
        t = kk * shard_rate
        lim = "the state shards"
        if red and red < t:
            t, lim = red, "the reducer"
        print("| %d | %s | %s |" % (kk, k(t), lim))


CORES = os.cpu_count() or 2


def main():
    runs = parse(sys.argv[1])
    names = {"riskpipe": "riskpipe (default flags, 2 mappers)",
             "pg": "PostgreSQL 15 (COPY + set-based upsert per 10k)",
             "redis": "Redis 7 (Lua per 1000, appendfsync always)"}
    missing = [s for s in names if s not in runs]
    if missing:
        print("no results for: " + ", ".join(missing))
        return 1
    med = {s: statistics.median(rates(runs[s])) for s in names}
    best_peer = max(med["pg"], med["redis"])
    print()
    print("## Throughput, end to end, %s messages, every run verified exact"
          % runs["riskpipe"][0]["msgs"])
    print()
    print("| system | runs | median s | median msg/s | range msg/s | riskpipe / it |")
    print("|---|---|---|---|---|---|")
    for s, name in names.items():
        r = rates(runs[s])
        secs = statistics.median(float(x["seconds"]) for x in runs[s])
        ratio = "" if s == "riskpipe" else "%.2fx" % (med["riskpipe"] / med[s])
        print("| %s | %d | %.2f | %s | %s - %s | %s |"
              % (name, len(r), secs, k(med[s]), k(min(r)), k(max(r)), ratio))
    print()
    print("riskpipe / faster peer: %.2fx (goal 2x); riskpipe %s msg/s (goal 200k)"
          % (med["riskpipe"] / best_peer, k(med["riskpipe"])))
    if "ceiling" in runs:
        c = statistics.median(rates(runs["ceiling"]))
        print("raw LMDB ceiling (state engine, no IPC, commits of 256 frames): median %s msg/s;"
              " riskpipe is %.0f%% of it" % (k(c), 100 * med["riskpipe"] / c))
    rp = runs["riskpipe"]
    print()
    print("## Memory and disk (riskpipe runs: largest; peers: data directory after the run)")
    print()
    print("| process | peak RSS MB (VmHWM) | peak private MB (RssAnon) |")
    print("|---|---|---|")
    for p in ("state", "reducer", "mapper"):
        print("| %s | %d | %d |" % (p, max(int(r[p + "_rss_mb"]) for r in rp),
                                    max(int(r[p + "_anon_mb"]) for r in rp)))
    live = int(rp[0]["live_trades"])
    used = statistics.median(int(r["state_used_bytes"]) for r in rp)
    disk = statistics.median(int(r["state_disk_bytes"]) for r in rp)
    print()
    print("live trades %d: riskpipe state %d B/trade in use (%d B/trade on disk, the reserved"
          " map); PostgreSQL %d B/trade; Redis %d B/trade"
          % (live, used / live, disk / live,
             statistics.median(int(r["bytes"]) for r in runs["pg"]) / live,
             statistics.median(int(r["bytes"]) for r in runs["redis"]) / live))
    if "latency" in runs:
        print()
        print("## Latency (bench/latency.sh)")
        print()
        latency_table(runs["latency"])
    if "shards" in runs:
        print()
        print("## State shards (bench/shards.sh: K states, 2 mappers, one reducer, every run"
              " verified across the shards)")
        print()
        shards_table(runs)
    if "growth" in runs:
        print()
        print("## Growth (riskpipe, one run each)")
        print()
        print("| messages | trades | live trades | seconds | msg/s | state B/live trade in use |"
              " state peak private MB |")
        print("|---|---|---|---|---|---|---|")
        rows = [dict(rp[0], trades=str(int(int(rp[0]["msgs"]) * 0.8)))] + runs["growth"]
        for r in rows:
            print("| %s | %s | %s | %.1f | %s | %d | %s |"
                  % (r["msgs"], r["trades"], r["live_trades"], float(r["seconds"]),
                     k(float(r["msgs"]) / float(r["seconds"])),
                     int(r["state_used_bytes"]) / int(r["live_trades"]), r["state_anon_mb"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
