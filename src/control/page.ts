/**
 * The live status page served at `GET /` by the HTTP control interface: one self-contained HTML
 * document (inline CSS and script, no fonts, images or other requests) because it is opened on
 * routers with no internet access, often through an SSH tunnel.
 *
 * The script polls `status` (the `/status` JSON of contract.ts, fetched relative to the page so
 * that it also works behind a reverse proxy under a sub-path) four times a second, so that a
 * stalled link shows within half a second (its pill says "stalled" although MLVPN's state is
 * still "connected" until timeout), takes a history point about once a second, keeps the last five
 * minutes in a fixed-size ring buffer and draws throughput, RTT and loss per link on canvases by
 * hand. Link names come from the configuration, so every text reaches the DOM through
 * `textContent`, never as markup.
 *
 * For tests and tooling the page exposes its state: `<body data-state="loading|live|unreachable"
 * data-samples="N">` and, on each chart, `data-points` (points drawn) and `data-peak` (the
 * largest value drawn).
 *
 * The script is page-script.js, plain ES2020 for the browser, type-checked against the DOM on its
 * own (page-script.tsconfig.json) and imported here as text, so `bun build --compile` embeds it.
 */
import SCRIPT from "./page-script.js" with { type: "text" };

const STYLE = `
:root{--bg:#f4f6f8;--card:#fff;--fg:#1b2430;--muted:#5d6b7a;--line:#dde3e9;--grid:#e8edf1;
--ok:#1e9e52;--warn:#d98a00;--bad:#d23c3c;--wait:#3b7dd8;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
@media (prefers-color-scheme:dark){:root{--bg:#11161c;--card:#1a2129;--fg:#e3e8ee;--muted:#93a1b0;--line:#2a333d;--grid:#242c35}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px;padding:12px 16px;background:var(--card);border-bottom:1px solid var(--line)}
h1{margin:0;font-size:20px;font-weight:650}
h1 small{font-weight:400;color:var(--muted)}
.meta{color:var(--muted);font-size:13px}
.grow{flex:1}
.pill{display:inline-flex;align-items:center;gap:6px;padding:2px 10px;border-radius:999px;font-weight:600;font-size:13px;background:var(--grid);white-space:nowrap}
.pill::before{content:"";width:8px;height:8px;border-radius:50%;background:currentColor}
.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}.wait{color:var(--wait)}
.banner{margin:12px 16px 0;padding:10px 14px;border-radius:8px;background:var(--bad);color:#fff;font-weight:600}
main{padding:12px 16px 24px;display:grid;gap:12px}
main.stale{opacity:.55}
.links{display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(270px,1fr))}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px}
.card h2{margin:0 0 4px;font-size:16px;display:flex;align-items:center;gap:8px;overflow-wrap:anywhere}
.swatch{flex:none;width:12px;height:12px;border-radius:3px}
.state{display:flex;flex-wrap:wrap;align-items:center;gap:4px 8px;margin-bottom:6px}
.since,.tags{color:var(--muted);font-size:12px}
dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 12px;font-size:13px}
dt{color:var(--muted)}
dd{margin:0;text-align:right;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.charts{display:grid;gap:12px;grid-template-columns:1fr 1fr}
.charts .wide{grid-column:1/-1}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px 10px}
figcaption{font-weight:600;display:flex;flex-wrap:wrap;gap:4px 12px;align-items:baseline}
figcaption span{font-weight:400;color:var(--muted);font-size:12px}
canvas{display:block;width:100%;height:190px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px;align-items:center}
.legend span{display:inline-flex;align-items:center;gap:6px}
.info dl{grid-template-columns:auto 1fr}
.info dd{text-align:left}
@media (max-width:700px){.charts{grid-template-columns:1fr}header{padding:10px 12px}main{padding:10px 12px}canvas{height:160px}}
`;

const BODY = `
<header>
  <div><h1>mlvpn <small id="instance"></small></h1><div class="meta" id="meta">connecting…</div></div>
  <div class="grow"></div>
  <div class="pill wait" id="tunnel">waiting for status</div>
</header>
<div class="banner" id="banner" role="alert" hidden></div>
<main id="main">
  <section class="links" id="links" aria-label="links"></section>
  <section class="charts" aria-label="graphs of up to the last 5 minutes">
    <div class="legend wide" id="legend"></div>
    <figure class="wide"><figcaption>Throughput <span>solid: sent · dashed: received</span></figcaption><canvas id="chart-throughput"></canvas></figure>
    <figure><figcaption>RTT <span>smoothed, per link</span></figcaption><canvas id="chart-rtt"></canvas></figure>
    <figure><figcaption>Loss <span>solid: of what we send · dashed: of what we receive</span></figcaption><canvas id="chart-loss"></canvas></figure>
  </section>
  <section class="card info" aria-label="tunnel"><dl id="info"></dl></section>
</main>
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mlvpn status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

/** The status page, HTML text. */
export function statusPageHtml(): string {
  return PAGE;
}
