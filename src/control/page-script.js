// The status page's script (src/control/page.ts serves it inline): plain ES2020 for the
// browser, type-checked against the DOM by tsc -p src/control/page-script.tsconfig.json
// (test/unit/status-page.test.ts runs it). Every text reaches the DOM through textContent.
"use strict";
// The state is polled 4 times a second (a stalled link shows within half a second); the
// history takes a point per HIST_STEP_S.
var WINDOW_S = 300, CAPACITY = 400, POLL_MS = 250, HIST_STEP_S = 0.95, FETCH_TIMEOUT_MS = 2500, GAP_S = 3.5;
// Visible time span [seconds, seconds between grid lines]: the smallest that holds the history,
// so that a page opened a moment ago does not squeeze its first points into a corner.
var SPANS = [[60, 10], [120, 20], [300, 60]];
var COLORS = ["#2f7ed8", "#e4572e", "#17a589", "#9b59d0", "#e0a100", "#d63384", "#6c7a89", "#7cb342"];
var STATE_CLASS = { "connected": "ok", "lossy link": "warn", "slow link": "warn", "waiting peer": "wait", "disconnected": "bad" };
var UP_STATES = { "connected": 1, "lossy link": 1, "slow link": 1 };

function $(id) { return document.getElementById(id); }
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function num(v) { return Number(v.toPrecision(3)).toString(); }
function fmtUnit(v, unit, base, prefixes) {
  var i = 0;
  while (Math.abs(v) >= base && i < prefixes.length - 1) { v /= base; i++; }
  return num(v) + " " + prefixes[i] + unit;
}
function fmtBits(v) { return fmtUnit(v, "bit/s", 1000, ["", "k", "M", "G", "T"]); }
function fmtBytes(v) { return fmtUnit(v, "B", 1000, ["", "k", "M", "G", "T", "P"]); }
function fmtMs(v) { return v == null ? "–" : num(v) + " ms"; }
function fmtPct(v) { return v == null ? "–" : num(v) + " %"; }
function fmtDuration(s) {
  s = Math.max(0, Math.floor(s));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}
function clock(epochS) { return new Date(epochS * 1000).toLocaleTimeString(); }

// ---- the last WINDOW_S seconds of samples, in a fixed ring: the page may stay open for weeks
var hist = { t: new Float64Array(CAPACITY), rows: new Array(CAPACITY), start: 0, len: 0 };
function histIndex(k) { return (hist.start + k) % CAPACITY; }
function histPush(t, row) {
  var i;
  if (hist.len < CAPACITY) { i = histIndex(hist.len); hist.len++; }
  else { i = hist.start; hist.start = (hist.start + 1) % CAPACITY; }
  hist.t[i] = t; hist.rows[i] = row;
  while (hist.len > 0 && hist.t[hist.start] < t - WINDOW_S) {
    hist.rows[hist.start] = undefined;
    hist.start = (hist.start + 1) % CAPACITY;
    hist.len--;
  }
}
function histClear() { hist.start = 0; hist.len = 0; hist.rows.fill(undefined); }

// ---- sampling: throughput comes from counter deltas between two documents
var prev = null, identity = "", cards = [], infoRows = {};

function sample(doc) {
  var id = doc.pid + "|" + doc.uptime + "|" + doc.tunnels.map(function (l) { return l.name; }).join("\u0000");
  if (id !== identity || (prev && doc.now < prev.now)) {
    // another process, another link set or a clock step: old points would be meaningless
    identity = id; prev = null; histClear(); buildCards(doc);
  }
  if (prev && doc.now - prev.now < HIST_STEP_S) return false;
  var dt = prev ? doc.now - prev.now : 0;
  function rate(cur, old) { return prev && dt > 0 && cur >= old ? ((cur - old) * 8) / dt : null; }
  var row = doc.tunnels.map(function (l, i) {
    var up = UP_STATES[l.status] === 1;
    return {
      sent: rate(l.sentbytes, prev && prev.sent[i]),
      recv: rate(l.recvbytes, prev && prev.recv[i]),
      rtt: up && l.srtt > 0 ? l.srtt : null,
      lossOut: up ? l.loss_out : null,
      lossIn: up ? (l.loss_in == null ? l.loss : l.loss_in) : null,
    };
  });
  histPush(doc.now, row);
  prev = {
    now: doc.now,
    sent: doc.tunnels.map(function (l) { return l.sentbytes; }),
    recv: doc.tunnels.map(function (l) { return l.recvbytes; }),
  };
  return true;
}

// ---- cards: built once per link set, then only their texts change
var FIELDS = [["rtt", "RTT"], ["minrtt", "min RTT"], ["loss", "Loss in / out"], ["capacity", "Capacity"],
  ["rate", "Send rate"], ["inflight", "In flight"], ["sent", "Sent"], ["recv", "Received"],
  ["lost", "Lost (resent)"], ["disconnects", "Disconnects"], ["peer", "Peer"]];

function buildCards(doc) {
  var links = $("links"), legend = $("legend");
  links.replaceChildren(); legend.replaceChildren(); cards = [];
  doc.tunnels.forEach(function (l, i) {
    var color = COLORS[i % COLORS.length];
    var card = el("article", "card"), h = el("h2"), sw = el("span", "swatch");
    sw.style.background = color;
    h.append(sw, el("span", "", l.name));
    var stateLine = el("div", "state"), pill = el("span", "pill"), since = el("span", "since"), tags = el("span", "tags");
    stateLine.append(pill, since, tags);
    var dl = el("dl"), dds = {};
    FIELDS.forEach(function (f) { dds[f[0]] = el("dd"); dl.append(el("dt", "", f[1]), dds[f[0]]); });
    card.append(h, stateLine, dl);
    links.append(card);
    cards.push({ pill: pill, since: since, tags: tags, dds: dds });
    var item = el("span"), lsw = el("span", "swatch");
    lsw.style.background = color;
    item.append(lsw, el("span", "", l.name));
    legend.append(item);
  });
}

function updateCards(doc) {
  doc.tunnels.forEach(function (l, i) {
    var c = cards[i], d = c.dds;
    // A stalled link is still "connected" for MLVPN until timeout, but carries nothing: say so first.
    var stalled = l.stalled && UP_STATES[l.status] === 1;
    c.pill.textContent = stalled ? "stalled" : l.status;
    c.pill.className = "pill " + (stalled ? "bad" : STATE_CLASS[l.status] || "wait");
    c.since.textContent = "since " + fmtDuration(doc.now - l.status_since);
    c.since.title = new Date(l.status_since * 1000).toLocaleString();
    c.tags.textContent = stalled ? "no answer: probing (" + l.status + " until timeout)" : l.scheduled ? "carrying data" : UP_STATES[l.status] ? "standby" : "";
    d.rtt.textContent = l.rttvar == null ? "–" : fmtMs(l.srtt) + " ± " + num(l.rttvar);
    d.minrtt.textContent = fmtMs(l.min_rtt);
    d.loss.textContent = fmtPct(l.loss_in == null ? l.loss : l.loss_in) + " / " + fmtPct(l.loss_out);
    d.capacity.textContent = fmtBits(l.capacity_bps);
    d.rate.textContent = fmtBits(l.send_rate_bps);
    d.inflight.textContent = fmtBytes(l.inflight_bytes) + " · " + l.queued_packets + " queued";
    d.sent.textContent = fmtBytes(l.sentbytes) + " · " + l.sentpackets + " pkts";
    d.recv.textContent = fmtBytes(l.recvbytes) + " · " + l.recvpackets + " pkts";
    d.lost.textContent = String(l.lost_packets);
    d.disconnects.textContent = String(l.disconnects);
    d.peer.textContent = l.peer || "–";
  });
}

function setInfo(label, text) {
  var dd = infoRows[label];
  if (!dd) { dd = infoRows[label] = el("dd"); $("info").append(el("dt", "", label), dd); }
  dd.textContent = text;
}

function updateHeader(doc) {
  // the default --name is "mlvpn": no need to say it twice
  var instance = doc.instance === doc.name ? "" : doc.instance;
  $("instance").textContent = instance;
  document.title = "mlvpn " + instance + " – tunnel " + doc.tunnel_status;
  $("meta").textContent = doc.mode + " · v" + doc.version + " · up " + fmtDuration(doc.now - doc.uptime) + " · " + doc.tunnels.length + " link" + (doc.tunnels.length === 1 ? "" : "s");
  var t = $("tunnel");
  t.textContent = "tunnel " + doc.tunnel_status;
  t.className = "pill " + (doc.tunnel_status === "up" ? "ok" : "bad");
  setInfo("Interface", doc.tuntap.type + " " + doc.tuntap.name);
  // last_reload is the start time until the first reload (as in C).
  const reloaded = doc.last_reload > doc.uptime ? " · reloaded " + fmtDuration(doc.now - doc.last_reload) + " ago" : " · not reloaded since start";
  setInfo("Process", "pid " + doc.pid + " · protocol " + doc.protocol + reloaded);
  var r = doc.reorder;
  setInfo("Reordering", r == null ? "off" : "hold " + r.hold_ms + " ms · " + r.delivered + " delivered · " + r.reordered + " reordered · " + r.late + " late · " + r.holes_skipped + " holes skipped · " + r.duplicates + " duplicates · " + r.stale + " stale · " + r.held + " held now");
  // The delay equaliser works with or without the reorder buffer.
  var e = doc.equaliser;
  setInfo("Delay equaliser", e.equalised + " held (last " + e.equalise_ms + " ms) · " + e.late + " late");
  var drops = Object.keys(doc.drops).filter(function (k) { return doc.drops[k] > 0; }).map(function (k) { return k + " " + doc.drops[k]; });
  setInfo("Dropped", drops.length ? drops.join(" · ") : "none");
}

// ---- charts, drawn by hand
function niceStep(v) {
  var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

function drawChart(canvas, series, fmt, minTop) {
  var dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  }
  var ctx = canvas.getContext("2d"), css = getComputedStyle(document.documentElement);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  var newest = hist.len ? hist.t[histIndex(hist.len - 1)] : 0, peak = 0, points = 0, k, s, v;
  for (s = 0; s < series.length; s++) for (k = 0; k < hist.len; k++) {
    v = series[s].get(hist.rows[histIndex(k)]);
    if (v != null && isFinite(v)) { points++; if (v > peak) peak = v; }
  }
  var step = niceStep(Math.max(peak, minTop) / 4), top = step * 4, yLabels = [];
  ctx.font = "11px system-ui, sans-serif";
  for (k = 0; k <= 4; k++) yLabels.push(fmt(step * k));
  var L = 8 + Math.max.apply(null, yLabels.map(function (t) { return ctx.measureText(t).width; }));
  var R = 6, T = 10, B = 20, pw = w - L - R, ph = h - T - B;
  if (pw <= 0 || ph <= 0) return;
  ctx.lineWidth = 1;
  ctx.setLineDash([]);
  ctx.fillStyle = css.getPropertyValue("--muted");
  ctx.strokeStyle = css.getPropertyValue("--grid");
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (k = 0; k <= 4; k++) {
    var y = Math.round(T + ph - (ph * k) / 4) + 0.5;
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke();
    ctx.fillText(yLabels[k], L - 6, y);
  }
  var have = hist.len ? newest - hist.t[hist.start] : 0, span = SPANS[SPANS.length - 1];
  for (k = SPANS.length - 1; k >= 0; k--) if (have <= SPANS[k][0]) span = SPANS[k];
  var spanS = span[0], ticks = spanS / span[1], compact = pw / ticks < 48;
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  // right to left, so that "now" always shows and a label that would overlap its right neighbour is left out
  var nextLeft = Infinity;
  for (k = ticks; k >= 0; k--) {
    var x = Math.round(L + (pw * k) / ticks) + 0.5, ago = (ticks - k) * span[1];
    ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, T + ph); ctx.stroke();
    var label = ago === 0 ? "now" : spanS === 300 ? "−" + ago / 60 + (compact ? "m" : " min") : "−" + ago + (compact ? "s" : " s");
    var lw = ctx.measureText(label).width, left = Math.min(Math.max(x - lw / 2, L), L + pw - lw);
    if (left + lw + 6 > nextLeft) continue;
    ctx.fillText(label, left, T + ph + 5);
    nextLeft = left;
  }
  ctx.save();
  ctx.beginPath(); ctx.rect(L, T - 2, pw, ph + 4); ctx.clip();
  ctx.lineWidth = 1.75; ctx.lineJoin = "round";
  for (s = 0; s < series.length; s++) {
    ctx.strokeStyle = series[s].color;
    ctx.setLineDash(series[s].dashed ? [5, 4] : []);
    ctx.beginPath();
    var pen = false, lastT = 0;
    for (k = 0; k < hist.len; k++) {
      var i = histIndex(k), t = hist.t[i];
      v = series[s].get(hist.rows[i]);
      if (v == null || !isFinite(v)) { pen = false; continue; }
      var px = L + pw * (1 - (newest - t) / spanS), py = T + ph * (1 - Math.min(v, top) / top);
      if (pen && t - lastT <= GAP_S) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      pen = true; lastT = t;
    }
    ctx.stroke();
  }
  ctx.restore();
  canvas.dataset.points = String(points);
  canvas.dataset.peak = String(peak);
}

function perLink(field, dashedField) {
  var out = [];
  cards.forEach(function (_, i) {
    var color = COLORS[i % COLORS.length];
    out.push({ color: color, dashed: false, get: function (row) { return row[i] ? row[i][field] : null; } });
    if (dashedField) out.push({ color: color, dashed: true, get: function (row) { return row[i] ? row[i][dashedField] : null; } });
  });
  return out;
}

function drawAll() {
  drawChart($("chart-throughput"), perLink("sent", "recv"), fmtBits, 8000);
  drawChart($("chart-rtt"), perLink("rtt"), fmtMs, 10);
  drawChart($("chart-loss"), perLink("lossOut", "lossIn"), fmtPct, 5);
  document.body.dataset.samples = String(hist.len);
}

// ---- polling
var failingSince = 0;

function showFailure(reason) {
  if (!failingSince) failingSince = Date.now();
  var b = $("banner");
  b.textContent = "Cannot reach mlvpn (" + reason + ") since " + new Date(failingSince).toLocaleTimeString() + ". Showing the last data; retrying every second.";
  b.hidden = false;
  $("main").className = "stale";
  document.body.dataset.state = "unreachable";
}

function showLive() {
  failingSince = 0;
  $("banner").hidden = true;
  $("main").className = "";
  document.body.dataset.state = "live";
}

function isStatusDocument(d) {
  return d != null && typeof d === "object" && Array.isArray(d.tunnels) && typeof d.now === "number" && d.tuntap != null && d.drops != null;
}

async function poll() {
  var started = Date.now(), ctl = new AbortController(), timer = setTimeout(function () { ctl.abort(); }, FETCH_TIMEOUT_MS);
  try {
    var res = await fetch("status", { cache: "no-store", signal: ctl.signal });
    if (!res.ok) throw new Error("HTTP " + res.status);
    var doc;
    try { doc = await res.json(); } catch (e) { throw new Error("the reply is not JSON"); }
    if (!isStatusDocument(doc)) throw new Error("the reply is not a status document");
    var sampled = sample(doc);
    updateHeader(doc);
    updateCards(doc);
    if (sampled) drawAll();
    showLive();
  } catch (e) {
    showFailure(e && e.name === "AbortError" ? "no answer within " + FETCH_TIMEOUT_MS / 1000 + " s" : e && e.name === "TypeError" ? "connection failed" : String(e && e.message || e));
  } finally {
    clearTimeout(timer);
    setTimeout(poll, Math.max(0, POLL_MS - (Date.now() - started)));
  }
}

window.addEventListener("resize", drawAll);
document.body.dataset.state = "loading";
document.body.dataset.samples = "0";
poll();
