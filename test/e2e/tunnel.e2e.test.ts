/**
 * End to end, as users run it: two dist/mlvpn processes (client and server) in their own network
 * namespaces, joined by two veth "uplinks", configured with INI files shaped like the deployment
 * guide and a statuscommand script that configures the tun and logs every event.
 *
 * Ping through the tunnel; a 20 MB TCP transfer verified by SHA-256 using both links; one
 * uplink taken down mid-transfer (the transfer completes, rtun_down logged) and restored
 * (rtun_up); the server killed and restarted (the client is back within 3 s).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { allUp, buildBinary, eventsOf as labEventsOf, ifaceStat, SERVER_TUN, startEnd as labStartEnd, writeEndConfigs } from "../lab/mlvpn.ts";
import { addVeth, createLab, type Lab, labSkipReason, pingOk, setLinkUp, waitFor } from "../lab/netns.ts";

const BUN = process.execPath;
const skip = labSkipReason();
if (skip) console.log(`skipping the tunnel e2e tests: ${skip}`);

const UPLINKS = [
  { client: "192.168.101.2", server: "192.168.101.1", port: 5080 },
  { client: "192.168.102.2", server: "192.168.102.1", port: 5081 },
];

let lab: Lab;
let dir: string;
let server: Subprocess | undefined;
let client: Subprocess | undefined;

const eventsOf = (side: "client" | "server") => labEventsOf(dir, side);
const ifaceBytes = (ns: string, ifname: string, what: "tx_bytes" | "rx_bytes") => ifaceStat(lab, ns, ifname, what);

/** Receives one TCP stream in the server namespace and prints its SHA-256 and length. */
const SINK = `
const h = new Bun.CryptoHasher("sha256"); let n = 0;
Bun.listen({ hostname: "${SERVER_TUN}", port: 7000, socket: {
  data(s, d) { h.update(d); n += d.length; },
  close() { console.log(JSON.stringify({ sha256: h.digest("hex"), bytes: n })); process.exit(0); },
}});
console.log("listening");
`;

/**
 * Sends `mb` MB of seeded pseudo-random bytes, at about `rateMBps` (0 = as fast as possible),
 * then prints their SHA-256 once the connection is closed.
 */
const SOURCE = `
const mb = Number(process.argv[2]), rate = Number(process.argv[3]);
const total = mb * 1024 * 1024, data = new Uint8Array(total); let x = 12345;
for (let i = 0; i < total; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; data[i] = x & 255; }
const sha256 = new Bun.CryptoHasher("sha256").update(data).digest("hex");
let off = 0; const started = performance.now();
function pump(s) {
  while (off < total) {
    if (rate > 0 && off / 1048576 > ((performance.now() - started) / 1000) * rate) return void setTimeout(() => pump(s), 5);
    const w = s.write(data.subarray(off, Math.min(total, off + 65536)));
    off += w;
    if (w === 0) return; // wait for drain
  }
  s.end();
}
await Bun.connect({ hostname: "${SERVER_TUN}", port: 7000, socket: {
  open(s) { pump(s); }, data() {}, drain(s) { pump(s); },
  close() { console.log(JSON.stringify({ sha256, bytes: off, seconds: (performance.now() - started) / 1000 })); process.exit(0); },
}});
`;

async function transfer(mb: number, rateMBps: number, during?: () => Promise<void>): Promise<{ sent: any; received: any }> {
  writeFileSync(join(dir, "sink.ts"), SINK);
  writeFileSync(join(dir, "source.ts"), SOURCE);
  const sink = lab.spawn("server", [BUN, join(dir, "sink.ts")], { stdout: "pipe", stderr: join(dir, "sink.err") });
  const reader = (sink.stdout as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  expect(new TextDecoder().decode(first.value)).toContain("listening");
  const source = lab.spawn("client", [BUN, join(dir, "source.ts"), String(mb), String(rateMBps)], { stdout: "pipe", stderr: join(dir, "source.err") });
  if (during) await during();
  const sentText = await Promise.race([new Response(source.stdout as ReadableStream).text(), Bun.sleep(90_000).then(() => "timeout")]);
  let receivedText = "";
  for (let r = await reader.read(); !r.done; r = await reader.read()) receivedText += new TextDecoder().decode(r.value);
  return { sent: JSON.parse(sentText), received: JSON.parse(receivedText) };
}

describe.skipIf(skip !== null)("tunnel end to end (network namespaces, dist/mlvpn)", () => {
  beforeAll(async () => {
    buildBinary();
    dir = mkdtempSync(join(tmpdir(), "mlvpn-e2e-"));
    lab = await createLab({ namespaces: ["client", "server"] });
    await addVeth(lab, { ns: "client", ifname: "up1", addr: "192.168.101.2/24" }, { ns: "server", ifname: "up1", addr: "192.168.101.1/24" });
    await addVeth(lab, { ns: "client", ifname: "up2", addr: "192.168.102.2/24" }, { ns: "server", ifname: "up2", addr: "192.168.102.1/24" });
    writeEndConfigs({ dir, uplinks: UPLINKS, timeout: 5, reorderBufferSize: 64 });
    server = labStartEnd(lab, dir, "server");
    client = labStartEnd(lab, dir, "client");
    await waitFor(() => allUp(dir, "client", 2) && allUp(dir, "server", 2), { timeoutMs: 15_000, what: "both links and the tunnel up on both ends" });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
    if (process.env.MLVPN_KEEP_E2E) console.log(`e2e files kept in ${dir}`);
    else if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test("both links come up and the status script sees the C MLVPN events and environment", () => {
    for (const side of ["client", "server"] as const) {
      const ev = eventsOf(side);
      expect(ev).toContain("rtun_up adsl1");
      expect(ev).toContain("rtun_up adsl2");
      expect(ev.filter((e) => e.startsWith("tuntap_up")).length).toBe(1);
    }
  });

  test("ping through the tunnel", async () => {
    const r = await pingOk(lab, "client", SERVER_TUN, { count: 10, intervalMs: 50 });
    expect(r.received).toBe(10);
  });

  test("20 MB over TCP arrive intact and both uplinks carry them", async () => {
    const tx1 = await ifaceBytes("client", lab.ifname("up1"), "tx_bytes");
    const tx2 = await ifaceBytes("client", lab.ifname("up2"), "tx_bytes");
    const { sent, received } = await transfer(20, 0);
    expect(received.bytes).toBe(20 * 1024 * 1024);
    expect(received.sha256).toBe(sent.sha256);
    const d1 = (await ifaceBytes("client", lab.ifname("up1"), "tx_bytes")) - tx1;
    const d2 = (await ifaceBytes("client", lab.ifname("up2"), "tx_bytes")) - tx2;
    console.log(`20 MB in ${sent.seconds.toFixed(2)} s (${((20 * 8 * 1.048576) / sent.seconds).toFixed(0)} Mbit/s); uplink bytes ${d1} / ${d2}`);
    expect(d1).toBeGreaterThan(5_000_000);
    expect(d2).toBeGreaterThan(5_000_000);
  }, 120_000);

  test("an uplink going down mid-transfer: the transfer completes, rtun_down then rtun_up", async () => {
    const { sent, received } = await transfer(20, 4, async () => {
      await Bun.sleep(1500);
      await setLinkUp(lab, "client", "up1", false);
      await waitFor(() => eventsOf("client").includes("rtun_down adsl1"), { timeoutMs: 10_000, what: "rtun_down adsl1 on the client" });
      await Bun.sleep(1500);
      await setLinkUp(lab, "client", "up1", true);
    });
    expect(received.sha256).toBe(sent.sha256);
    expect(received.bytes).toBe(20 * 1024 * 1024);
    await waitFor(() => eventsOf("client").filter((e) => e === "rtun_up adsl1").length >= 2, { timeoutMs: 10_000, what: "rtun_up adsl1 again" });
    expect(eventsOf("client").filter((e) => e.startsWith("tuntap_down"))).toEqual([]);
  }, 120_000);

  test("server killed and restarted: the client is back within 3 s", async () => {
    server!.kill("SIGKILL");
    await server!.exited;
    await Bun.sleep(500);
    server = labStartEnd(lab, dir, "server");
    const restartedAt = performance.now();
    await waitFor(async () => (await pingOk(lab, "client", SERVER_TUN, { count: 1, replyTimeoutMs: 200 })).received === 1, { timeoutMs: 10_000, intervalMs: 50, what: "ping through the tunnel after the server restart" });
    const seconds = (performance.now() - restartedAt) / 1000;
    console.log(`tunnel back ${seconds.toFixed(2)} s after the server restarted`);
    expect(seconds).toBeLessThanOrEqual(3);
  }, 30_000);

  test("SIGTERM: DISCONNECT sent, down hooks run, exit status 0", async () => {
    client!.kill("SIGTERM");
    expect(await client!.exited).toBe(0);
    const ev = eventsOf("client");
    expect(ev.at(-1)).toBe("tuntap_down");
    expect(ev).toContain("rtun_down adsl2");
    await waitFor(() => eventsOf("server").includes("tuntap_down"), { timeoutMs: 5000, what: "the server to see the DISCONNECT" });
  }, 30_000);
});
