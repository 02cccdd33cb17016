#!/usr/bin/env python3
"""tests/web/dashboard.py: the browser half of tests/web/run.sh. Opens the reducer's dashboard in
headless Chromium through Selenium and checks what it shows against totals computed here from the
JSON-lines workloads by tests/compose/check_aggregates.py (latest Version per TradeID wins, exact
decimals), independently of riskpipe's code. It sends the workloads itself with riskctl, so that the
second batch is timed from the moment `riskctl send` returns. Prints one PASS or FAIL line per check;
exit 0 when every check passed, 1 otherwise.

run.sh starts the daemons and passes their addresses; the reducer's command line follows `--`, so
that the reducer can be stopped (the page must say "reconnecting") and started again on its data.
"""
import argparse
import decimal
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compose"))
from check_aggregates import expected_rows  # noqa: E402  (the independent computation)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

LEVELS = ("RiskType", "Region", "TradeDesk")
GROUPED = re.compile(r"-?\d{1,3}(,\d{3})*(\.\d+)?")  # how the page writes totals and counts
failures = 0


def check(name, ok, why=""):
    global failures
    if ok:
        print("PASS %s" % name, flush=True)
    else:
        failures += 1
        print("FAIL %s: %s" % (name, why), flush=True)
    return ok


def wait_until(fn, timeout, interval=0.05):
    """Calls fn until it returns something true or timeout seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


# Every row the page shows: [data-path, total text, count text, classes], in table order.
ROWS_JS = """
return Array.from(document.querySelectorAll('tr[data-path]')).map(tr => [
  tr.dataset.path, tr.querySelector('.total').textContent, tr.querySelector('.count').textContent,
  tr.className]);
"""


def page_rows(d):
    """The page's rows as {path: (Decimal total, int count)}, and the cells not written as grouped
    decimals (which the comparison then reports)."""
    rows, bad = {}, []
    for path, total, count, _cls in d.execute_script(ROWS_JS):
        if not GROUPED.fullmatch(total) or not GROUPED.fullmatch(count) or "." in count:
            bad.append("%s: %r %r" % (path, total, count))
            continue
        rows[path] = (decimal.Decimal(total.replace(",", "")), int(count.replace(",", "")))
    return rows, bad


def differences(want, got, bad=()):
    """Paths whose page row differs from want {path: (value text, count)}; a page row of count 0
    and total 0 counts as absent. [] when the page shows exactly want."""
    got = {k: v for k, v in got.items() if not (v[1] == 0 and v[0] == 0)}
    out = ["%s: want %s / %s, page %s" % (k, want[k][0] if k in want else "absent",
                                          want[k][1] if k in want else "-",
                                          "%s / %s" % got[k] if k in got else "absent")
           for k in sorted(set(want) | set(got))
           if k not in want or k not in got or got[k] != (decimal.Decimal(want[k][0]), want[k][1])]
    return list(bad) + out


def shows(d, want):
    """True when the page shows exactly the rows want; else the differences (kept for the report)."""
    got, bad = page_rows(d)
    diff = differences(want, got, bad)
    shows.last = diff
    return not diff


shows.last = []


def level(want, n):
    return {k: v for k, v in want.items() if k.count("::") + 1 == n}


def text(d, css):
    return d.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)


def conn(d):
    return text(d, "#conn") or ""


def notice(d):
    return d.execute_script("const n = document.getElementById('notice'); return !n || n.hidden ? '' : n.textContent;")


def click_toggle(d, path):
    d.execute_script("document.querySelector('tr[data-path=\"' + CSS.escape(arguments[0]) + '\"] .toggle').click();", path)


def status(url):
    with urllib.request.urlopen(url + "v1/status", timeout=5) as r:
        return json.load(r)


def send(args, path):
    """riskctl send of a workload file; returns (exit code, seconds, its stderr)."""
    t0 = time.monotonic()
    p = subprocess.run([args.riskctl, "send", path, "--ingest", args.ingest, "--quiet"],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, time.monotonic() - t0, p.stderr.strip()


def shot(d, args, name):
    path = os.path.join(args.artifacts, name)
    d.save_screenshot(path)
    print("screenshot: %s" % path, flush=True)


def second_batch(w1):
    """Messages for new paths (a new risk type) and new values: re-valuations of trades of two
    risk types only (the others must not change), and one trade moved to a new path."""
    winners = {}
    for line in open(w1, encoding="utf-8"):
        m = json.loads(line)
        if m["TradeID"] not in winners or m["Version"] > winners[m["TradeID"]]["Version"]:
            winners[m["TradeID"]] = m
    types = sorted({m["Hierarchy"]["RiskType"] for m in winners.values()})
    touched = types[:2]
    out = []
    for i, (region, desk, value) in enumerate([("EMEA", "Alpha", "1234567.654321"),
                                               ("EMEA", "Beta", "-0.000001"),
                                               ("APAC", "Alpha", "250000.5")]):
        out.append({"TradeID": "webcheck-%d" % i, "Value": value, "Version": 1,
                    "Hierarchy": {"RiskType": "WebCheck", "Region": region, "TradeDesk": desk}})
    revalued = [m for m in sorted(winners.values(), key=lambda m: m["TradeID"])
                if m["Hierarchy"]["RiskType"] in touched][:5]
    for i, m in enumerate(revalued[:4]):
        out.append({"TradeID": m["TradeID"], "Value": "%d.%06d" % (10000 + 1111 * i, 123457 * (i + 1)),
                    "Version": m["Version"] + 1, "Hierarchy": dict(m["Hierarchy"])})
    moved = revalued[4]
    out.append({"TradeID": moved["TradeID"], "Value": "777.000001", "Version": moved["Version"] + 1,
                "Hierarchy": {"RiskType": "WebCheck", "Region": "APAC", "TradeDesk": "Beta"}})
    return out, set(touched) | {"WebCheck"}, [t for t in types if t not in touched]


# How many pixels of a chart's canvas were drawn above its zero line (the
# line at 0 sits in the bottom 2 CSS pixels): a rate above zero was plotted.
CHART_JS = """
const c = document.querySelector(arguments[0] + ' canvas');
const r = window.devicePixelRatio || 1;
const h = Math.max(0, c.height - Math.ceil(4 * r));
if (!c.width || !h) return 0;
const px = c.getContext('2d').getImageData(0, 0, c.width, h).data;
let n = 0;
for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
return n;
"""


def run(d, args):
    w1 = os.path.join(args.work, "w1.jsonl")
    w2 = os.path.join(args.work, "w2.jsonl")
    w12 = os.path.join(args.work, "w12.jsonl")

    # The page on an empty pipeline.
    d.get(args.url)
    if not check("GET / is the dashboard (it has the tree)",
                 d.execute_script("return !!document.getElementById('tree-body')"),
                 "the page is %r: %s" % (d.title, d.execute_script("return document.body.textContent")[:120])):
        return
    live = wait_until(lambda: conn(d) == "live", 15)
    check("the page loads and its stream is live", live, "connection '%s', notice '%s'" % (conn(d), notice(d)))
    check("the page's title", d.title == "riskpipe dashboard", repr(d.title))
    empty = wait_until(lambda: d.execute_script("return !document.getElementById('empty').hidden"), 5)
    check("an empty reducer: the page says there are no aggregates yet", empty, "no 'No aggregates yet'")

    # First workload, sent while the page is open: it follows by live updates.
    with open(w1, "w") as f:
        gen = subprocess.run([args.riskctl, "gen", "--count", "4000", "--seed", "11"], stdout=f,
                             stderr=subprocess.PIPE, text=True)
    rc, secs, err = send(args, w1)
    check("riskctl send: the first workload (4,000 messages)", gen.returncode == 0 and rc == 0,
          "gen exit %d, send exit %d: %s" % (gen.returncode, rc, err))
    want1, trades1 = expected_rows(w1)
    t0 = time.monotonic()
    ok = wait_until(lambda: shows(d, level(want1, 1)), 30)
    check("after the first workload the page shows the level-1 totals and counts of %d trades "
          "(%d rows, %.2f s after send returned)" % (trades1, len(level(want1, 1)), time.monotonic() - t0),
          ok, "; ".join(shows.last[:5]))

    # Second batch: new paths and new values, timed from the moment send returns.
    batch, touched, untouched = second_batch(w1)
    with open(w2, "w") as f:
        f.write("".join(json.dumps(m) + "\n" for m in batch))
    with open(w12, "w") as f:
        f.write(open(w1).read() + open(w2).read())
    want2, _ = expected_rows(w12)
    check("the second batch changes level-1 totals (else the timing check could not fail)",
          level(want2, 1) != level(want1, 1) and "WebCheck" in want2 and untouched,
          "same level-1 rows, or no risk type left untouched")
    # Rows highlighted by the first workload's last updates fade first.
    wait_until(lambda: not d.execute_script("return document.querySelectorAll('tr.changed').length"), 3)
    rc, secs, err = send(args, w2)
    t_sent = time.monotonic()
    ok = wait_until(lambda: shows(d, level(want2, 1)), 5, interval=0.01)
    took = time.monotonic() - t_sent
    check("riskctl send: the second batch (%d messages, %.3f s)" % (len(batch), secs), rc == 0, err)
    print("second batch: the page showed the new totals %.3f s after riskctl send returned" % took,
          flush=True)
    check("the page shows the second batch's new totals within 1 s of send returning (%.3f s)" % took,
          ok and took <= 1.0, "; ".join(shows.last[:5]) if not ok else "took %.3f s" % took)
    rows = {r[0]: r[3] for r in d.execute_script(ROWS_JS)}
    lit = sorted(p for p, cls in rows.items() if "changed" in cls.split())
    check("the rows that changed are highlighted, the others not (%s)" % ", ".join(lit),
          set(lit) == touched, "highlighted %s, changed %s" % (lit, sorted(touched)))
    faded = wait_until(lambda: not d.execute_script("return document.querySelectorAll('tr.changed').length"), 3)
    check("the highlight fades", faded, "rows still marked changed after 3 s")

    # The applied sequence and time of the last update.
    st = status(args.url)
    same = wait_until(lambda: text(d, "#seq").replace(",", "") == str(status(args.url).get("applied_seq")), 5)
    check("the page's applied seq is the reducer's applied_seq (%s)" % text(d, "#seq"), same,
          "page %s, /v1/status applied_seq %s" % (text(d, "#seq"), status(args.url).get("applied_seq")))
    check("the time of the last update is shown", re.fullmatch(r"\d\d:\d\d:\d\d", text(d, "#updated") or ""),
          repr(text(d, "#updated")))

    # Expand one node to level 3: the new risk type, and an existing one.
    existing = sorted(k for k in level(want2, 2) if k.split("::")[0] == sorted(touched - {"WebCheck"})[0])[0]
    visible = level(want2, 1)
    for node in ("WebCheck::APAC", existing):
        top = node.split("::")[0]
        click_toggle(d, top)
        wait_until(lambda: d.execute_script("return !!document.querySelector('tr[data-path=\"' + CSS.escape(arguments[0]) + '\"]')", node), 3)
        click_toggle(d, node)
        kids = {k: v for k, v in want2.items() if k.startswith(node + "::")}
        visible.update({k: v for k, v in level(want2, 2).items() if k.startswith(top + "::")})
        visible.update(kids)
        ok = wait_until(lambda: shows(d, visible), 3)
        check("expanding %s then %s shows its %d level-3 children with their totals"
              % (top, node, len(kids)), ok and kids, "; ".join(shows.last[:5]) or "no children expected")
        expanded = d.execute_script("return document.querySelector('tr[data-path=\"' + CSS.escape(arguments[0]) + '\"]').getAttribute('aria-expanded')", node)
        check("%s is marked expanded" % node, expanded == "true", "aria-expanded=%r" % expanded)
    shot(d, args, "dashboard.png")

    # The charts: the workloads' rates were plotted above zero.
    for chart in ("#chart-changes", "#chart-batches"):
        n = wait_until(lambda: d.execute_script(CHART_JS, chart), 3)
        check("the %s chart drew a rate above zero (%d pixels)" % (chart[7:], n or 0), n and n > 20,
              "nothing drawn above the zero line")
    now = text(d, "#chart-changes .now")
    check("the changes/s caption shows a number (%s)" % now, GROUPED.fullmatch(now or ""), repr(now))
    if isinstance(st.get("lag"), int):
        pts = d.execute_script("return document.querySelector('#chart-lag canvas').dataset.points")
        check("the lag chart has points (%s)" % pts, pts and int(pts) > 0, "no points")
    else:
        lag = text(d, "#chart-lag .now")
        check("the reducer reports no lag: the lag chart says so", lag == "not reported", repr(lag))

    # Every row, every level.
    d.execute_script("document.getElementById('expand-all').click();")
    ok = wait_until(lambda: shows(d, want2), 3)
    check("expand all: every row (%d, levels 1 to 3) equals the independent computation" % len(want2),
          ok, "; ".join(shows.last[:5]))
    errors = [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]
    check("no errors in the browser console", not errors, "; ".join(errors[:3]))

    # The reducer stops: the page says reconnecting; it starts again: live, same totals.
    os.kill(args.reducer_pid, signal.SIGTERM)
    gone = wait_until(lambda: not alive(args.reducer_pid), 20, 0.1)
    check("the reducer stops on SIGTERM", gone, "still running after 20 s")
    rec = wait_until(lambda: conn(d).startswith("reconnecting"), 10)
    check("the stream dropped: the page shows reconnecting (%r, %r)" % (conn(d), notice(d)), rec,
          "connection %r" % conn(d))
    shot(d, args, "dashboard-reconnecting.png")
    with open(args.reducer_log, "a") as log:
        # Not our stdout: run.sh reads it through a pipe that must close when we exit.
        p = subprocess.Popen(args.reducer, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    with open(args.reducer_pidfile, "w") as f:
        f.write("%d\n" % p.pid)
    back = wait_until(lambda: conn(d) == "live" and shows(d, want2), 30, 0.2)
    check("the reducer restarted: the page is live again and shows the same totals", back,
          "connection %r; %s" % (conn(d), "; ".join(shows.last[:3])))

    # The token flow, on the token-protected reducer.
    d.get("about:blank")
    d.get(args.token_url + "#token=" + args.token)
    ok = wait_until(lambda: conn(d) == "live", 15)
    check("token reducer, page opened with #token=...: the stream is live", ok,
          "connection %r, notice %r" % (conn(d), notice(d)))
    href = d.current_url
    kept = d.execute_script("return sessionStorage.getItem('riskpipe.token')")
    check("the token left the address bar (%s) and is kept in sessionStorage" % href,
          "#" not in href and args.token not in href and kept == args.token, "url %s, stored %r" % (href, kept))
    health = wait_until(lambda: text(d, "#health") == "ok", 5)
    check("with the token, /v1/status is read (health ok)", health, repr(text(d, "#health")))
    d.refresh()
    ok = wait_until(lambda: conn(d) == "live", 15)
    check("after a reload the token comes from sessionStorage: live", ok, "connection %r" % conn(d))
    shot(d, args, "dashboard-token.png")

    d.execute_script("sessionStorage.clear()")
    d.get("about:blank")
    d.get(args.token_url)
    ok = wait_until(lambda: "401" in notice(d) and conn(d).startswith("unauthorized"), 10)
    check("token reducer without a token: the page shows the 401 message (%r)" % notice(d), ok,
          "connection %r, notice %r" % (conn(d), notice(d)))
    shot(d, args, "dashboard-401.png")
    d.get("about:blank")
    d.get(args.token_url + "#token=wrong-" + args.token)
    ok = wait_until(lambda: "did not accept the token" in notice(d), 10)
    check("a wrong token: the page says the token was not accepted", ok, "notice %r" % notice(d))


def alive(pid):
    """True while pid runs (a zombie has stopped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for a in ("url", "token-url", "token", "riskctl", "ingest", "work", "artifacts",
              "chromium", "chromedriver", "reducer-log", "reducer-pidfile"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--reducer-pid", type=int, required=True)
    ap.add_argument("reducer", nargs="+", help="the reducer's command line, after --")
    args = ap.parse_args()

    o = Options()
    o.binary_location = args.chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1366,860", "--user-data-dir=" + os.path.join(args.work, "chromium")):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        d = webdriver.Chrome(service=Service(args.chromedriver,
                                             log_path=os.path.join(args.work, "chromedriver.log")),
                             options=o)
    except WebDriverException as e:
        check("headless Chromium starts", False, str(e).strip().splitlines()[0])
        return 1
    try:
        run(d, args)
    except (WebDriverException, OSError, subprocess.SubprocessError, KeyError, IndexError) as e:
        check("the browser session ran to its end", False, "%s: %s" % (type(e).__name__, str(e).strip()[:300]))
    finally:
        d.quit()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
