#!/usr/bin/env python3
"""tests/api/check.py: drives the query API of a running pipeline as an outside client and compares
every answer with tests/api/model.py, computed from the workloads alone. Prints "PASS name" or
"FAIL name: why" per check (tests/api/run.sh counts them); exit 1 when any failed.

Usage: check.py STATE_PORT REDUCER_PORT TOKEN_FILE RISKCTL INGEST_EP STATE_CONTROL_EP TMPDIR
                WORKLOAD.jsonl...   (the workloads already sent, in the order they were sent)

The stream phase sends more messages itself (riskctl gen | riskctl send, then riskctl wait).
Standard library only.
"""
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Model, key_order, under  # noqa: E402

PASSED = FAILED = 0


def check(name, ok, why=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print("PASS " + name, flush=True)
    else:
        FAILED += 1
        print("FAIL %s: %s" % (name, why), flush=True)
    return ok


class Api:
    """One daemon's HTTP endpoint."""

    def __init__(self, port, token):
        self.port, self.token = port, token

    def request(self, path, query=(), method="GET", auth="header", headers=None):
        """-> (status, {header: value} lowercased, body bytes). auth: header, query, none or a
        wrong token's text."""
        h = dict(headers or {})
        q = list(query)
        if auth == "header":
            h["Authorization"] = "Bearer " + self.token
        elif auth == "query":
            q.append(("access_token", self.token))
        elif auth != "none":
            h["Authorization"] = "Bearer " + auth
        url = path + ("?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote) if q else "")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, url, headers=h)
            r = conn.getresponse()
            body = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, body
        finally:
            conn.close()

    def json(self, path, query=(), **kw):
        status, headers, body = self.request(path, query, **kw)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {"unparsable body": body[:300].decode("utf-8", "replace")}


class Stream(threading.Thread):
    """A /v1/stream client: keeps every event with its arrival time and the view it builds (a
    snapshot replaces the view, an update sets its rows and drops its removed paths)."""

    def __init__(self, port, token, prefix=None):
        super().__init__(daemon=True)
        q = "?prefix=" + urllib.parse.quote(prefix, safe="") if prefix is not None else ""
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.conn.request("GET", "/v1/stream" + q, headers={"Authorization": "Bearer " + token})
        self.sock = self.conn.sock  # getresponse forgets it when the server will close
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.ctype = self.resp.getheader("Content-Type", "")
        self.events = []  # (arrival time, event, id, data)
        self.pings = 0
        self.view = {}
        self.bad = []  # what did not parse
        self.lock = threading.Lock()
        self.opened = time.monotonic()
        if self.status == 200:
            self.start()
        else:
            self.body = self.resp.read()
            self.conn.close()

    def run(self):
        fields = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                line = line.decode("utf-8").rstrip("\r\n")
                if line.startswith(":"):
                    with self.lock:
                        self.pings += "ping" in line
                elif line:
                    name, _, value = line.partition(":")
                    fields[name] = fields.get(name, "") + value.lstrip(" ")
                elif fields:
                    self.dispatch(fields)
                    fields = {}
        except (OSError, ValueError, http.client.HTTPException):
            return

    def dispatch(self, f):
        t = time.monotonic()
        try:
            data = json.loads(f.get("data", ""))
        except ValueError:
            self.bad.append(f)
            return
        with self.lock:
            self.events.append((t, f.get("event"), f.get("id"), data))
            if f.get("event") == "snapshot":
                self.view = {}
            for r in data.get("rows", []):
                self.view[r["path"]] = (r["value"], r["count"])
            for p in data.get("removed", []):
                self.view.pop(p, None)

    def snapshot(self):
        with self.lock:
            return dict(self.view), list(self.events), self.pings

    def close(self):
        """Hangs up at once (the reader thread holds the socket open otherwise)."""
        try:
            self.sock.shutdown(2)
        except OSError:
            pass
        self.sock.close()
        self.conn.close()


def rows_of(page):
    return {r["path"]: (r["value"], r["count"]) for r in page["rows"]}


def diff(want, got, limit=5):
    keys = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    return "%d differ, e.g. %s" % (len(keys), "; ".join(
        "%s: want %s got %s" % (k, want.get(k, "absent"), got.get(k, "absent")) for k in keys[:limit]))


def check_auth(state, reducer):
    for name, api in (("state", state), ("reducer", reducer)):
        s, h, _ = api.request("/v1/status", auth="none")
        check("%s: /v1/status without the token is 401 with WWW-Authenticate: Bearer" % name,
              s == 401 and h.get("www-authenticate") == "Bearer", "status %d, %s" % (s, h))
        s, body = api.json("/v1/status")
        check("%s: /v1/status with the bearer header is 200, health ok" % name,
              s == 200 and body.get("health") == "ok" and body.get("role") == name,
              "status %d %s" % (s, body))
        s, _, _ = api.request("/v1/status", auth="query")
        check("%s: the token as access_token is accepted" % name, s == 200, "status %d" % s)
        s, _, _ = api.request("/v1/status", query=[("access_token", "wrong")], auth="none")
        check("%s: a wrong access_token is 401" % name, s == 401, "status %d" % s)
        s, _, _ = api.request("/v1/status", auth="wrong")
        check("%s: a wrong bearer token is 401" % name, s == 401, "status %d" % s)
        s, _, _ = api.request("/metrics", auth="none")
        check("%s: /metrics without the token is 401" % name, s == 401, "status %d" % s)
    s, _, _ = reducer.request("/v1/aggregates", auth="none")
    check("reducer: /v1/aggregates without the token is 401", s == 401, "status %d" % s)
    s, _, _ = reducer.request("/v1/stream", auth="none")
    check("reducer: /v1/stream without the token is 401", s == 401, "status %d" % s)
    s, _, _ = state.request("/v1/trades", auth="none")
    check("state: /v1/trades without the token is 401", s == 401, "status %d" % s)
    s, h, _ = reducer.request("/", auth="none")
    check("reducer: / (the dashboard's files) needs no token", s in (200, 404),
          "status %d" % s)
    s, body = reducer.json("/nope.html", auth="none")
    check("reducer: an unknown file is 404 JSON without the token",
          s == 404 and isinstance(body.get("error"), str), "status %d %s" % (s, body))


def committed_seq(state):
    s, body = state.json("/v1/status")
    return body.get("committed_seq") if s == 200 else None


def check_aggregates(reducer, state, model):
    want = model.aggregates()
    s, page = reducer.json("/v1/aggregates", [("limit", "100000")])
    if not check("aggregates: 200 with every row", s == 200 and "rows" in page, "%d %s" % (s, page)):
        return
    got = rows_of(page)
    check("aggregates: every row equals the model's exact decimal total and count (%d rows)"
          % len(want), got == want, diff(want, got))
    paths = [r["path"] for r in page["rows"]]
    check("aggregates: rows in key (byte) order", paths == key_order(paths), str(paths[:5]))
    check("aggregates: level is the number of levels",
          all(r["level"] == r["path"].count("::") + 1 for r in page["rows"]), "")
    check("aggregates: every row carries the page's seq, next is null on the last page",
          all(r["seq"] == page["seq"] for r in page["rows"]) and page["next"] is None,
          "seq %s next %s" % (page["seq"], page["next"]))
    cs = committed_seq(state)
    check("aggregates: seq is the state's committed sequence once everything is applied",
          page["seq"] == cs and cs > 0, "seq %s, state committed %s" % (page["seq"], cs))

    for prefix in ("Delta::AMER", "Delta", "Kappa::ZZ::Solo", "Delta::AMERICAS"):
        s, page = reducer.json("/v1/aggregates", [("prefix", prefix)])
        exp = {k: v for k, v in want.items() if under(k, prefix)}
        check("aggregates: prefix=%s selects whole levels (%d rows)" % (prefix, len(exp)),
              s == 200 and rows_of(page) == exp, diff(exp, rows_of(page)) if s == 200 else s)
    check("aggregates: the model has Delta::AMERICAS rows that prefix Delta::AMER must skip",
          any(k.startswith("Delta::AMERICAS") for k in want), "")
    for prefix, level in (("", "1"), ("", "2"), ("Delta", "3"), ("Vega::APAC", "3")):
        s, page = reducer.json("/v1/aggregates", [("prefix", prefix), ("level", level)])
        exp = {k: v for k, v in want.items() if under(k, prefix) and k.count("::") + 1 == int(level)}
        check("aggregates: prefix=%s level=%s (%d rows)" % (prefix, level, len(exp)),
              s == 200 and rows_of(page) == exp and len(exp) > 0,
              diff(exp, rows_of(page)) if s == 200 else s)

    for query, n in (([], 7), ([("prefix", "Gamma"), ("level", "3")], 3)):
        full = key_order(k for k in want if under(k, dict(query).get("prefix", ""))
                         and ("level" not in dict(query) or k.count("::") + 1 == 3))
        seen, after, pages, ok = [], None, 0, True
        while pages < 1000:
            q = query + [("limit", str(n))] + ([("after", after)] if after else [])
            s, page = reducer.json("/v1/aggregates", q)
            if s != 200 or len(page["rows"]) > n:
                ok = False
                break
            pages += 1
            seen += [r["path"] for r in page["rows"]]
            after = page["next"]
            if after is None:
                break
            ok = ok and after == seen[-1] and len(page["rows"]) == n
        check("aggregates: limit=%d pages (%s) with after reproduce the %d rows once, in order"
              % (n, urllib.parse.urlencode(query), len(full)),
              ok and seen == full and pages == -(-len(full) // n), "%d pages, %d of %d rows"
              % (pages, len(seen), len(full)))

    bad = [([("level", "0")], "level"), ([("level", "9")], "level"), ([("level", "x")], "level"),
           ([("limit", "0")], "limit"), ([("limit", "100001")], "limit"),
           ([("limit", "-1")], "limit"), ([("limit", "1e3")], "limit"),
           ([("prefix", "Delta::")], "prefix"), ([("prefix", "::Delta")], "prefix"),
           ([("prefix", "Del\u200bta")], "prefix"), ([("after", "a:::b")], "after"),
           ([("lvl", "2")], "lvl"), ([("limit", "5"), ("limit", "6")], "limit")]
    for q, word in bad:
        s, body = reducer.json("/v1/aggregates", q)
        check("aggregates: %s is 400 naming %s" % (urllib.parse.urlencode(q), word),
              s == 400 and word in body.get("error", ""), "%d %s" % (s, body))
    s, body = reducer.json("/v1/nope")
    check("reducer: an unknown /v1 path is 404 {\"error\": ...}",
          s == 404 and isinstance(body.get("error"), str), "%d %s" % (s, body))
    for method in ("POST", "DELETE", "PUT"):
        s, h, _ = reducer.request("/v1/aggregates", method=method)
        check("aggregates: %s is 405 with Allow: GET, HEAD" % method,
              s == 405 and h.get("allow") == "GET, HEAD", "%d %s" % (s, h))
    s, h, body = reducer.request("/v1/aggregates", method="HEAD")
    check("aggregates: HEAD is 200 without a body", s == 200 and body == b"", "%d" % s)


def trade_fields(t):
    return {k: t.get(k) for k in ("trade_id", "version", "value", "path", "hierarchy", "timestamp")}


def check_trades(state, model):
    cs = committed_seq(state)
    ids = ["api/1 a+b%?#&=", "api-\u00e9-2", "api-solo", "api-\u65e5\u672c"]
    ids += random.Random(5).sample(sorted(model.winners), 6)
    for tid in ids:
        s, t = state.json("/v1/trades/" + urllib.parse.quote(tid, safe=""))
        want = model.trade(tid)
        check("trades: /v1/trades/%s equals the model's latest version" % tid,
              s == 200 and trade_fields(t) == want and t.get("seq") == cs,
              "%d %s, want %s seq %s" % (s, t, want, cs))
    s, t = state.json("/v1/trades/api-no-such-trade")
    check("trades: an unknown TradeID is 404 {\"error\": \"no such trade\"}",
          s == 404 and t == {"error": "no such trade"}, "%d %s" % (s, t))
    for raw in ("%C3%28", "a%00b", "e%CC%81", "%E2%80%8B", "x" * 129):
        s, t = state.json("/v1/trades/" + raw)
        check("trades: TradeID %s is 400" % raw[:20], s == 400 and "TradeID" in t.get("error", ""),
              "%d %s" % (s, t))
    for q, word in (([("limit", "0")], "limit"), ([("limit", "10001")], "limit"),
                    ([("limit", "ten")], "limit"), ([("after", "e\u0301x")], "after"),
                    ([("prefix", "x")], "prefix")):
        s, t = state.json("/v1/trades", q)
        check("trades: %s is 400 naming %s" % (urllib.parse.urlencode(q), word),
              s == 400 and word in t.get("error", ""), "%d %s" % (s, t))

    seen, after, pages, ok = [], None, 0, True
    while pages < 10000:
        s, page = state.json("/v1/trades", [("limit", "1000")] + ([("after", after)] if after else []))
        if s != 200 or len(page["trades"]) > 1000 or page.get("seq") != cs:
            ok = False
            break
        pages += 1
        seen += page["trades"]
        after = page["next"]
        if after is None:
            break
    ids = [t["trade_id"] for t in seen]
    check("trades: paging /v1/trades reproduces every trade once, in TradeID byte order (%d)"
          % len(model.winners), ok and ids == key_order(model.winners), "%d of %d trades in %d pages"
          % (len(ids), len(model.winners), pages))
    wrong = [t["trade_id"] for t in seen if trade_fields(t) != model.trade(t["trade_id"])]
    check("trades: every paged trade equals the model", ok and not wrong,
          "%d differ, e.g. %s" % (len(wrong), wrong[:3]))


def wait_until(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def check_stream(reducer, state, model, riskctl, ingest, control, tmp, idle):
    token = reducer.token
    s, h, body = reducer.request("/v1/stream", method="HEAD")
    check("stream: HEAD is 200 text/event-stream without a body",
          s == 200 and h.get("content-type") == "text/event-stream" and body == b"", "%d %s" % (s, h))
    for q, word in (([("level", "2")], "level"), ([("prefix", "Delta::")], "prefix")):
        s, body = reducer.json("/v1/stream", q)
        check("stream: %s is 400 naming %s" % (urllib.parse.urlencode(q), word),
              s == 400 and word in body.get("error", ""), "%d %s" % (s, body))

    main, amer = Stream(reducer.port, token), Stream(reducer.port, token, "Delta::AMER")
    want = model.aggregates()
    want_amer = {k: v for k, v in want.items() if under(k, "Delta::AMER")}
    check("stream: 200 text/event-stream", main.status == 200 and main.ctype == "text/event-stream",
          "%d %s" % (main.status, main.ctype))
    wait_until(lambda: main.snapshot()[1] and amer.snapshot()[1], 5)
    view, events, _ = main.snapshot()
    check("stream: the first event is a snapshot of every row, id = seq",
          events and events[0][1] == "snapshot" and view == want
          and events[0][2] == str(events[0][3]["seq"]),
          diff(want, view) if events else "no event in 5 s")
    view, events, _ = amer.snapshot()
    check("stream: prefix=Delta::AMER's snapshot holds its rows only",
          events and view == want_amer, diff(want_amer, view) if events else "no event in 5 s")

    # More messages while the clients listen: a paced stream of new trades and re-valuations,
    # then a move that empties two paths and a re-valuation under Delta::AMERICAS.
    more = os.path.join(tmp, "more.jsonl")
    moves = os.path.join(tmp, "moves.jsonl")
    with open(moves, "w", encoding="utf-8") as f:
        for m in ({"TradeID": "api-solo", "Value": "6", "Version": 2, "Timestamp": 1700000001,
                   "Hierarchy": {"RiskType": "Kappa", "Region": "ZY", "TradeDesk": "Solo2"}},
                  {"TradeID": "api/1 a+b%?#&=", "Value": "-13.25", "Version": 2,
                   "Hierarchy": {"RiskType": "Delta", "Region": "AMERICAS", "TradeDesk": "FX"}}):
            f.write(json.dumps(m, ensure_ascii=False) + "\n")
    sent = subprocess.run("%s gen --seed 12 --count 3000 --rate 1500 | tee %s | %s send --ingest %s"
                          " && %s send %s --ingest %s" % (riskctl, more, riskctl, ingest, riskctl,
                                                          moves, ingest),
                          shell=True, capture_output=True, text=True)
    check("stream: the second workload was sent", sent.returncode == 0, sent.stderr[-300:])
    model.feed_file(more)
    model.feed_file(moves)
    waited = subprocess.run([riskctl, "wait", "--state-control", control, "--timeout", "60"],
                            capture_output=True, text=True)
    t_applied = time.monotonic()
    check("stream: riskctl wait: the second workload is aggregated", waited.returncode == 0,
          waited.stdout + waited.stderr)
    want = model.aggregates()
    want_amer = {k: v for k, v in want.items() if under(k, "Delta::AMER")}
    ok = wait_until(lambda: main.snapshot()[0] == want and amer.snapshot()[0] == want_amer, 1.0)
    took = time.monotonic() - t_applied
    view, events, _ = main.snapshot()
    check("stream: within 1 s of the commit the updates hold the new totals (took %.3f s)" % took,
          ok, diff(want, view))
    updates = [e for e in events if e[1] == "update"]
    gaps = [b[0] - a[0] for a, b in zip(events, events[1:])]
    check("stream: %d updates came while the workload ran" % len(updates), len(updates) >= 3,
          "%d events" % len(events))
    # The server writes events >= 100 ms apart; arrival times carry a little scheduling jitter.
    check("stream: events at least 100 ms apart (smallest gap %.3f s)" % min(gaps or [1]),
          min(gaps or [1]) >= 0.09, str(sorted(gaps)[:5]))
    removed = [p for e in updates for p in e[3].get("removed", [])]
    check("stream: the emptied paths came as removed",
          "Kappa::ZZ::Solo" in removed and "Kappa::ZZ" in removed and "Kappa" not in removed,
          str(removed[:10]))
    seqs = [e[3]["seq"] for e in events]
    check("stream: every event's id is its seq, never decreasing",
          all(e[2] == str(e[3]["seq"]) for e in events) and seqs == sorted(seqs), str(seqs[:10]))
    cs = committed_seq(state)
    check("stream: the last event's seq is the state's committed sequence",
          seqs and seqs[-1] == cs, "last %s, committed %s" % (seqs[-1:], cs))
    _, aev, _ = amer.snapshot()
    stray = [r["path"] for e in aev for r in e[3].get("rows", []) if not under(r["path"], "Delta::AMER")]
    stray += [p for e in aev for p in e[3].get("removed", []) if not under(p, "Delta::AMER")]
    check("stream: prefix=Delta::AMER never gets a row outside it (Delta::AMERICAS changed)",
          not stray and len(aev) >= 2, "%s; %d events" % (stray[:5], len(aev)))
    check("stream: every event parsed as JSON", not main.bad and not amer.bad, str(main.bad[:1]))

    # The stream limit: 16 in all (main, amer and the idle one are 3).
    extra = [Stream(reducer.port, token, "Rho") for _ in range(13)]
    over = Stream(reducer.port, token, "Rho")
    check("stream: 16 streams open, a 17th is 503",
          all(x.status == 200 for x in extra) and over.status == 503, "statuses %s, 17th %d"
          % ([x.status for x in extra], over.status))
    extra.pop().close()
    again = []

    def retry():
        time.sleep(0.2)
        again.append(Stream(reducer.port, token, "Rho"))
        return again[-1].status == 200
    ok = wait_until(retry, 4)
    check("stream: a client that leaves frees its slot within seconds", ok,
          "statuses %s" % [x.status for x in again])
    for x in extra + again + [main, amer]:
        x.close()

    # The idle stream (a prefix with no rows) opened first: a ping after 15 s without events.
    wait_until(lambda: idle.snapshot()[2] > 0, max(0.0, idle.opened + 17 - time.monotonic()))
    _, ev, pings = idle.snapshot()
    check("stream: an idle stream gets ': ping' after 15 s and nothing else",
          pings >= 1 and len(ev) == 1 and ev[0][3]["rows"] == [],
          "%d pings, %d events after %.1f s" % (pings, len(ev), time.monotonic() - idle.opened))
    idle.close()


def main(argv):
    if len(argv) < 9:
        print(__doc__.strip().splitlines()[3], file=sys.stderr)
        return 2
    state_port, reducer_port, token_file, riskctl, ingest, control, tmp = argv[1:8]
    with open(token_file, encoding="utf-8") as f:
        token = f.readline().strip()
    state, reducer = Api(int(state_port), token), Api(int(reducer_port), token)
    idle = Stream(reducer.port, token, "Nope::Nothing")
    model = Model()
    for path in argv[8:]:
        model.feed_file(path)
    check_auth(state, reducer)
    check_aggregates(reducer, state, model)
    check_trades(state, model)
    check_stream(reducer, state, model, riskctl, ingest, control, tmp, idle)
    print("check.py: %d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
