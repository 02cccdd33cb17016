// riskpipe dashboard. Keeps every aggregate row from /v1/stream (a snapshot,
// then updates) and shows them as a tree that expands level by level; polls
// /v1/status every second for the applied sequence, throughput and lag.
// Totals are exact decimal strings: they are displayed as text and never
// turned into JavaScript numbers.
"use strict";

const SEP = "::";
const TOKEN_KEY = "riskpipe.token";
const STATUS_EVERY_MS = 1000;
const HISTORY_MS = 5 * 60 * 1000;
const STREAM_RETRY_MS = 3000;

// The access token: given once as #token=... in the address, then kept in
// sessionStorage (this tab only). The fragment is split by hand rather than
// with URLSearchParams, which would turn a "+" of a base64 token into a space.
function takeToken() {
  const parts = location.hash.slice(1).split("&").filter((p) => p);
  const given = parts.find((p) => p.startsWith("token="));
  if (given !== undefined) {
    let t = given.slice("token=".length);
    try {
      t = decodeURIComponent(t);
    } catch (err) {
      // not %-encoded after all: keep it as typed
    }
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
    // Out of the address bar, and so out of history and bookmarks.
    const rest = parts.filter((p) => p !== given).join("&");
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

const token = takeToken();

// fetch() of an API path with the token, if there is one, as a bearer header.
function api(path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  return fetch(path, { headers: headers, cache: "no-store" });
}

// Formatting, of strings only.

// "-1234567.500000" -> "-1,234,567.500000", by string manipulation only.
function groupDigits(s) {
  const m = /^([+-]?)(\d+)(\.\d+)?$/.exec(String(s));
  if (!m) return String(s);
  return m[1] + m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (m[3] || "");
}

function clock(date) {
  const two = (n) => String(n).padStart(2, "0");
  return two(date.getHours()) + ":" + two(date.getMinutes()) + ":" + two(date.getSeconds());
}

// Short form of a rate or count for chart captions: 12345.6 -> "12,346".
function shortNumber(x) {
  if (x === null || x === undefined || !isFinite(x)) return "–";
  if (x === 0) return "0";
  return groupDigits(x >= 100 ? Math.round(x).toString() : x.toFixed(x >= 10 ? 1 : 2));
}

// Page elements and messages.

const el = {
  conn: document.getElementById("conn"),
  seq: document.getElementById("seq"),
  updated: document.getElementById("updated"),
  npaths: document.getElementById("npaths"),
  health: document.getElementById("health"),
  notice: document.getElementById("notice"),
  body: document.getElementById("tree-body"),
  empty: document.getElementById("empty"),
  since: document.getElementById("since"),
};

// The connection state shown at the top: connecting, live, reconnecting,
// unauthorized or error, with its text.
function setConn(state, text) {
  el.conn.className = "conn-" + state;
  el.conn.textContent = text || state;
}

// One message at a time under the header; "" hides it.
function setNotice(kind, text) {
  el.notice.hidden = !text;
  el.notice.className = "notice notice-" + kind;
  el.notice.textContent = text;
}

let unauthorized = false;

function showUnauthorized() {
  unauthorized = true;
  setConn("unauthorized", "unauthorized (401)");
  setNotice(
    "error",
    token
      ? "401 Unauthorized: the reducer did not accept the token this page was given. " +
          "Open the dashboard again with the right one at the end of its address: #token=YOUR_TOKEN."
      : "401 Unauthorized: this reducer requires a token (its --http-token-file). " +
          "Open the dashboard with the token at the end of its address: #token=YOUR_TOKEN."
  );
}

// The aggregate rows and the tree.

const rows = new Map(); // path -> {path, level, value, count, seq}
const children = new Map(); // parent path ("" for the top) -> Set of child paths
const expanded = new Set(); // paths whose children are shown
const shown = new Map(); // path -> <tr> currently in the table
let appliedSeq = null;

function parentOf(path) {
  const i = path.lastIndexOf(SEP);
  return i < 0 ? "" : path.slice(0, i);
}

function nameOf(path) {
  const i = path.lastIndexOf(SEP);
  return i < 0 ? path : path.slice(i + SEP.length);
}

function addRow(r) {
  if (!rows.has(r.path)) {
    const p = parentOf(r.path);
    if (!children.has(p)) children.set(p, new Set());
    children.get(p).add(r.path);
  }
  rows.set(r.path, r);
}

function removeRow(path) {
  if (!rows.delete(path)) return;
  const p = parentOf(path);
  const set = children.get(p);
  if (set) {
    set.delete(path);
    if (!set.size) children.delete(p);
  }
}

function sortedChildren(path) {
  const set = children.get(path);
  return set ? Array.from(set).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) : [];
}

// The paths to show, in display order: the top level, and the children of
// every expanded node whose ancestors are all expanded.
function visiblePaths() {
  const out = [];
  const walk = (parent) => {
    for (const p of sortedChildren(parent)) {
      out.push(p);
      if (expanded.has(p)) walk(p);
    }
  };
  walk("");
  return out;
}

// A row is a <tr class="node" data-path="..."> whose cells have the classes
// name, total and count; tests/web finds them by those names.
function makeRow(path) {
  const tr = document.createElement("tr");
  tr.className = "node";
  tr.addEventListener("animationend", () => tr.classList.remove("changed"));
  tr.dataset.path = path;
  const level = path.split(SEP).length;
  tr.dataset.level = String(level);
  tr.setAttribute("aria-level", String(level));

  const name = document.createElement("td");
  name.className = "name";
  name.style.paddingLeft = 0.4 + (level - 1) * 1.4 + "em";
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "toggle";
  toggle.addEventListener("click", () => {
    if (expanded.has(path)) expanded.delete(path);
    else expanded.add(path);
    render();
  });
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = nameOf(path);
  label.title = path;
  name.append(toggle, label);

  const total = document.createElement("td");
  total.className = "total num";
  const count = document.createElement("td");
  count.className = "count num";
  tr.append(name, total, count);
  return tr;
}

// Brings one table row up to date with its aggregate row.
function fillRow(tr, path) {
  const r = rows.get(path);
  const total = tr.cells[1];
  const count = tr.cells[2];
  const text = groupDigits(r.value);
  if (total.textContent !== text) total.textContent = text;
  total.dataset.value = r.value; // the exact string, as the API sent it
  total.classList.toggle("neg", String(r.value).startsWith("-"));
  const c = groupDigits(String(r.count));
  if (count.textContent !== c) count.textContent = c;
  tr.title = r.seq !== undefined ? "last changed at seq " + r.seq : "";

  const toggle = tr.cells[0].firstChild;
  const leaf = !children.has(path);
  toggle.disabled = leaf;
  toggle.textContent = leaf ? "" : expanded.has(path) ? "▾" : "▸";
  toggle.setAttribute("aria-label", leaf ? "no children" : (expanded.has(path) ? "collapse " : "expand ") + path);
  if (leaf) tr.removeAttribute("aria-expanded");
  else tr.setAttribute("aria-expanded", expanded.has(path) ? "true" : "false");
}

// Restarts the brief highlight of a changed row.
function flash(tr) {
  tr.classList.remove("changed");
  void tr.offsetWidth; // a reflow between, so the animation starts again
  tr.classList.add("changed");
}

// Makes the table show visiblePaths(), reusing the rows already there so
// that unchanged rows keep their place and a running highlight. changed: the
// paths to highlight.
function render(changed) {
  const want = visiblePaths();
  const keep = new Set(want);
  for (const [path, tr] of shown) {
    if (!keep.has(path)) {
      tr.remove();
      shown.delete(path);
    }
  }
  let at = el.body.firstChild;
  for (const path of want) {
    let tr = shown.get(path);
    if (!tr) {
      tr = makeRow(path);
      shown.set(path, tr);
    }
    if (tr !== at) el.body.insertBefore(tr, at);
    else at = at.nextSibling;
    fillRow(tr, path);
    if (changed && changed.has(path)) flash(tr);
  }
  el.empty.hidden = rows.size > 0;
  el.npaths.textContent = groupDigits(String(rows.size));
}

document.getElementById("expand-all").addEventListener("click", () => {
  for (const p of children.keys()) if (p) expanded.add(p);
  render();
});
document.getElementById("collapse-all").addEventListener("click", () => {
  expanded.clear();
  render();
});

// The live stream.

function setSeq(seq) {
  if (seq === undefined || seq === null) return;
  appliedSeq = seq;
  el.seq.textContent = groupDigits(String(seq));
}

function onSnapshot(msg) {
  rows.clear();
  children.clear();
  for (const r of msg.rows || []) addRow(r);
  for (const p of Array.from(expanded)) if (!rows.has(p)) expanded.delete(p);
  setSeq(msg.seq);
  el.updated.textContent = clock(new Date());
  render();
}

function onUpdate(msg) {
  const changed = new Set();
  for (const p of msg.removed || []) {
    removeRow(p);
    expanded.delete(p);
  }
  for (const r of msg.rows || []) {
    addRow(r);
    changed.add(r.path);
  }
  setSeq(msg.seq);
  el.updated.textContent = clock(new Date());
  render(changed);
}

// Parses one event's JSON; a malformed event is reported, not thrown.
function parseEvent(e) {
  try {
    return JSON.parse(e.data);
  } catch (err) {
    setNotice("error", "The stream sent an event that is not JSON: " + err.message);
    return null;
  }
}

let stream = null;

function openStream() {
  if (unauthorized) return;
  const url = "v1/stream" + (token ? "?access_token=" + encodeURIComponent(token) : "");
  stream = new EventSource(url);
  stream.addEventListener("open", () => {
    setConn("live", "live");
    setNotice("", "");
  });
  stream.addEventListener("snapshot", (e) => {
    const msg = parseEvent(e);
    if (msg) onSnapshot(msg);
  });
  stream.addEventListener("update", (e) => {
    const msg = parseEvent(e);
    if (msg) onUpdate(msg);
  });
  stream.addEventListener("error", () => {
    if (stream.readyState === EventSource.CONNECTING) {
      // The browser reconnects by itself and then gets a new snapshot.
      setConn("reconnecting", "reconnecting…");
      setNotice("warn", "The live stream dropped; reconnecting…");
      return;
    }
    // CLOSED: the server answered with an error status, which EventSource
    // does not retry. Ask /v1/status why, then retry unless it is a 401.
    stream.close();
    api("v1/status")
      .then((res) => {
        if (res.status === 401) showUnauthorized();
        else streamFailed("the stream was refused; reconnecting…");
      })
      .catch(() => streamFailed("the reducer does not answer; reconnecting…"));
  });
}

function streamFailed(text) {
  if (unauthorized) return;
  setConn("reconnecting", "reconnecting…");
  setNotice("warn", "Live updates stopped: " + text);
  setTimeout(openStream, STREAM_RETRY_MS);
}

// /v1/status: throughput and lag over the last minutes.

const samples = []; // {t (ms), changes/s, batches/s, lag}, oldest first
let lastCounters = null; // {t, changes, batches}

function addSample(st) {
  const now = performance.now();
  const c = st.counters || {};
  const cur = { t: now, changes: c.changes_applied, batches: c.batches_applied };
  let changesRate = null;
  let batchesRate = null;
  // A rate needs two readings; a counter that went down means a restart.
  if (lastCounters && cur.changes >= lastCounters.changes && cur.batches >= lastCounters.batches) {
    const dt = (cur.t - lastCounters.t) / 1000;
    if (dt > 0) {
      changesRate = (cur.changes - lastCounters.changes) / dt;
      batchesRate = (cur.batches - lastCounters.batches) / dt;
    }
  }
  lastCounters = typeof cur.changes === "number" && typeof cur.batches === "number" ? cur : null;
  const lag = typeof st.lag === "number" ? st.lag : null;
  samples.push({ t: now, changes: changesRate, batches: batchesRate, lag: lag });
  while (samples.length && samples[0].t < now - HISTORY_MS) samples.shift();
}

function pollStatus() {
  if (unauthorized) return;
  api("v1/status")
    .then((res) => {
      if (res.status === 401) {
        showUnauthorized();
        return null;
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    })
    .then((st) => {
      if (!st) return;
      el.health.textContent = st.health || "–";
      el.health.className = st.health === "ok" ? "ok" : "bad";
      // The stream's sequence is the one the tree shows; status fills in
      // before the first event.
      if (appliedSeq === null) setSeq(st.applied_seq);
      addSample(st);
      drawCharts();
    })
    .catch((err) => {
      el.health.textContent = "unreachable";
      el.health.className = "bad";
      addSample({});
      drawCharts();
      if (!stream || stream.readyState !== EventSource.OPEN)
        setNotice("warn", "The reducer does not answer (" + err.message + "); reconnecting…");
    })
    .finally(() => {
      if (!unauthorized) setTimeout(pollStatus, STATUS_EVERY_MS);
    });
}

// The time the charts span: the history there is, at least a minute and at
// most HISTORY_MS, so that the first minutes are not a sliver at the right.
function chartSpan(now) {
  const have = samples.length ? now - samples[0].t : 0;
  return Math.min(HISTORY_MS, Math.max(60 * 1000, have));
}

// Draws one series of samples (key) as a line over an area on the canvas of
// figure id: time runs over span ms up to now, 0 at the bottom. Gaps (null)
// break the line. Captions show the latest value and the scale's top.
function drawChart(id, key, now, span) {
  const fig = document.getElementById(id);
  const canvas = fig.querySelector("canvas");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);

  const pts = samples.filter((s) => s[key] !== null);
  let max = 0;
  for (const s of pts) max = Math.max(max, s[key]);
  const top = max > 0 ? max * 1.15 : 1;
  const x = (t) => w - ((now - t) / span) * w;
  const y = (v) => h - 1.5 - (v / top) * (h - 4);
  const style = getComputedStyle(fig);
  const color = style.getPropertyValue("--series").trim() || "#2266cc";

  // One path per run of consecutive samples, so a gap stays a gap.
  let run = [];
  const flush = () => {
    if (!run.length) return;
    ctx.beginPath();
    ctx.moveTo(x(run[0].t), h);
    for (const s of run) ctx.lineTo(x(s.t), y(s[key]));
    ctx.lineTo(x(run[run.length - 1].t), h);
    ctx.closePath();
    ctx.globalAlpha = 0.18;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.beginPath();
    run.forEach((s, i) => (i ? ctx.lineTo(x(s.t), y(s[key])) : ctx.moveTo(x(s.t), y(s[key]))));
    if (run.length === 1) ctx.lineTo(x(run[0].t) - 2, y(run[0][key]));
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.stroke();
    run = [];
  };
  for (const s of samples) {
    if (s[key] === null) flush();
    else run.push(s);
  }
  flush();

  const last = samples.length ? samples[samples.length - 1][key] : null;
  fig.querySelector(".now").textContent =
    last === null ? (key === "lag" && samples.length ? "not reported" : "–") : shortNumber(last);
  fig.querySelector(".max").textContent = pts.length ? "max " + shortNumber(max) : "";
  canvas.dataset.points = String(pts.length);
}

function drawCharts() {
  const now = performance.now();
  const span = chartSpan(now);
  drawChart("chart-changes", "changes", now, span);
  drawChart("chart-batches", "batches", now, span);
  drawChart("chart-lag", "lag", now, span);
  const minutes = Math.round(span / 6000) / 10;
  el.since.textContent = minutes + " min ago";
}

window.addEventListener("resize", drawCharts);

openStream();
pollStatus();
