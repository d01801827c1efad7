/**
 * The live status page end to end: two dist/mlvpn on the lab (two uplinks of different delay, one
 * lossy) with the HTTP control interface on the client router's loopback, traffic both ways
 * through the tunnel, and headless Chromium (Debian's, driven by playwright-core) inside the
 * client router's namespace loading `GET /`. The page must show both links connected and graphs
 * drawn from live /status data; a screenshot goes to test/artifacts/status-page.png. Then the
 * client is frozen (SIGSTOP) and thawed: the "cannot reach mlvpn" banner comes and goes by itself.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { buildBinary, ROOT } from "../lab/mlvpn.ts";
import { labSkipReason } from "../lab/netns.ts";
import { createTopology, type Topology } from "../lab/topology.ts";
import { type LabTunnel, startTunnel } from "../lab/tunnel.ts";
import { reportSkip } from "../helpers/skip.ts";

const CHROMIUM = "/usr/bin/chromium";
const CONTROL_PORT = 18_765;
const PAGE_URL = `http://127.0.0.1:${CONTROL_PORT}/`;
const SCREENSHOT = join(ROOT, "test", "artifacts", "status-page.png");
/** Seconds of traffic; the page takes a history point about once a second, so about as many samples. */
const TRAFFIC_S = 25;

const skip = labSkipReason() ?? (existsSync(CHROMIUM) ? null : `${CHROMIUM} not found (Debian: apt-get install chromium)`);
reportSkip(import.meta.file, "the status page e2e test", skip);

let topo: Topology;
let tunnel: LabTunnel;
let browser: Browser | undefined;
let page: Page;

/** Texts of the link cards' state pills, in link order. */
const linkStates = () => page.$$eval(".card .pill", (pills) => pills.map((p) => p.textContent));
const chart = (name: string) => page.$eval(`#chart-${name}`, (c) => ({ points: Number(c.dataset.points), peak: Number(c.dataset.peak) }));
const samples = async () => Number(await page.getAttribute("body", "data-samples"));
/** Waits until the page's own state (data-state on <body>) is this; the expression runs in the page. */
const pageState = (state: "live" | "unreachable", timeout: number) =>
  page.waitForFunction(`document.body.dataset.state === "${state}"`, undefined, { timeout, polling: 200 });

describe.skipIf(skip !== null)("status page in headless Chromium against dist/mlvpn on the lab", () => {
  beforeAll(async () => {
    buildBinary();
    topo = await createTopology({ uplinks: [{ rateMbit: 20, delayMs: 5 }, { rateMbit: 10, delayMs: 20, lossPct: 1 }] });
    tunnel = await startTunnel(topo, { general: `control_bind_host = "127.0.0.1"\ncontrol_bind_port = ${CONTROL_PORT}` });
    // The control port is on the client router's loopback, so the browser runs in that namespace
    // (playwright talks to it over pipes, which `ip netns exec` passes through).
    const wrapper = join(tunnel.dir, "chromium-in-client-ns.sh");
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${topo.lab.ns("client")} ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o700);
    browser = await chromium.launch({ executablePath: wrapper, args: ["--no-sandbox"], timeout: 30_000 });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await topo?.destroy();
    if (tunnel && !process.env.MLVPN_KEEP_E2E) rmSync(tunnel.dir, { recursive: true, force: true });
    else if (tunnel) console.log(`e2e files kept in ${tunnel.dir}`);
  }, 30_000);

  test("shows both links connected and graphs of live throughput, RTT and loss; screenshot saved", async () => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const response = await page.goto(PAGE_URL, { timeout: 10_000 });
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-type"]).toContain("text/html");

    // Both directions at once, paced below the uplinks' rates so that nothing is starved.
    const iperfServer = topo.lab.spawn("inet", ["iperf3", "-s", "-1", "-B", topo.internetHost], { stdout: "ignore", stderr: join(tunnel.dir, "iperf3-server.log") });
    await Bun.sleep(500);
    const iperf = topo.lab.exec("lan", ["iperf3", "-c", topo.internetHost, "--bidir", "-b", "4M", "-t", String(TRAFFIC_S)], { timeoutMs: (TRAFFIC_S + 15) * 1000 });

    await page.waitForFunction(`document.body.dataset.state === "live" && Number(document.body.dataset.samples) >= ${TRAFFIC_S - 2}`, undefined, {
      timeout: (TRAFFIC_S + 10) * 1000,
      polling: 500,
    });
    const r = await iperf;
    expect(r.code).toBe(0);
    await iperfServer.exited;

    expect(await linkStates()).toEqual(["connected", "connected"]);
    expect(await page.$$eval(".card h2", (hs) => hs.map((h) => h.textContent))).toEqual(["adsl1", "adsl2"]);
    expect(await page.textContent("#tunnel")).toBe("tunnel up");
    expect(await page.textContent("#meta")).toContain("client");
    // The delay equaliser's row (src/control/page-script.js), from the document's `equaliser`.
    expect(await page.textContent("#info")).toMatch(/Delay equaliser\d+ held \(last [\d.]+ ms\) · \d+ late/);
    const throughput = await chart("throughput");
    const rtt = await chart("rtt");
    const loss = await chart("loss");
    const n = await samples();
    console.log(`page: ${n} samples; throughput ${throughput.points} points, peak ${(throughput.peak / 1e6).toFixed(2)} Mbit/s; RTT ${rtt.points} points, peak ${rtt.peak} ms; loss ${loss.points} points, peak ${loss.peak} %`);
    // Two links × two directions, one point per sample after the first.
    expect(throughput.points).toBeGreaterThanOrEqual(4 * (n - 2));
    // iperf3 pushed 4 Mbit/s each way: at least one link must have carried a good part of it.
    expect(throughput.peak).toBeGreaterThan(1e6);
    expect(rtt.points).toBeGreaterThanOrEqual(2 * (n - 2));
    expect(rtt.peak).toBeGreaterThan(10); // adsl2 alone adds 2 × 20 ms
    expect(loss.points).toBeGreaterThan(0);
    expect(errors).toEqual([]);

    mkdirSync(join(ROOT, "test", "artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
  }, (TRAFFIC_S + 30) * 1000);

  test("a frozen mlvpn shows the 'cannot reach mlvpn' banner, which goes away by itself", async () => {
    tunnel.client.kill("SIGSTOP");
    try {
      await pageState("unreachable", 8000);
      expect(await page.isVisible("#banner")).toBe(true);
      expect(await page.textContent("#banner")).toContain("Cannot reach mlvpn");
    } finally {
      tunnel.client.kill("SIGCONT");
    }
    await pageState("live", 8000);
    expect(await page.isVisible("#banner")).toBe(false);
  }, 30_000);

  test("a cut link's pill turns to a red 'stalled' while MLVPN still says connected, and back on restore", async () => {
    await topo.cut(0);
    try {
      // Idle tunnel: the cut shows once the peer's next keepalive tick (one a second) finds the
      // link silent, it is probed and the probe goes unanswered, then within a page poll (250 ms):
      // about 1.5 s, bounded here at 6 s (3 s failed once in a clean-clone CI run). How fast a
      // cut shows under traffic (≤ 0.5 s) is test/e2e/stall.e2e.test.ts's and stall.sim's job;
      // this test is about the page showing it.
      await page.waitForFunction(`document.querySelector(".card .pill").textContent === "stalled"`, undefined, { timeout: 6000, polling: 50 });
      expect(await page.$eval(".card .pill", (p) => p.className)).toBe("pill bad");
      expect(await page.$eval(".card .tags", (t) => t.textContent)).toBe("no answer: probing (connected until timeout)");
    } finally {
      await topo.restore(0);
    }
    await page.waitForFunction(`document.querySelector(".card .pill").textContent === "connected"`, undefined, { timeout: 5000, polling: 50 });
  }, 20_000);
});
