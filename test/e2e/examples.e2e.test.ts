/**
 * examples/ on the lab, as a user deploys them: the client and server configurations with only
 * their addresses changed to the lab's (bindhost, remotehost, the LAN in the server's ip4_routes,
 * the script's path) and the status scripts copied unchanged. dist/mlvpn on both ends with
 * `--user nobody`; the scripts set addresses and routes with `ip`, and the server's masquerades
 * the client's LAN with nftables: the internet host sees the server's address, not the LAN's.
 * SIGTERM removes the NAT table and the routes again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BIN, buildBinary, ROOT } from "../lab/mlvpn.ts";
import { labSkipReason, pingOk, waitFor } from "../lab/netns.ts";
import { createTopology, type Topology } from "../lab/topology.ts";

const skip = labSkipReason() ?? (Bun.which("nft") ? null : "the server's example script needs nft (Debian: nftables)");
if (skip) console.log(`skipping the examples e2e test: ${skip}`);

const EXAMPLES = join(ROOT, "examples");

/** Sets `key = "value"` in one section of an INI text (the line must exist), as a user edits it. */
function setKey(text: string, section: string, key: string, value: string): string {
  const lines = text.split("\n");
  let current = "";
  for (const [i, line] of lines.entries()) {
    const header = /^\[([^\]]+)\]/.exec(line);
    if (header) current = header[1]!;
    else if (current === section && new RegExp(`^${key}\\s*=`).test(line)) {
      lines[i] = `${key} = "${value}"`;
      return lines.join("\n");
    }
  }
  throw new Error(`examples: no ${key} in [${section}]`);
}

let topo: Topology;
let dir: string;
const ends: Partial<Record<"client" | "server", Subprocess>> = {};

describe.skipIf(skip !== null)("examples/ on the lab (dist/mlvpn, --user nobody)", () => {
  beforeAll(async () => {
    buildBinary();
    topo = await createTopology({ uplinks: [{ rateMbit: 20, delayMs: 5 }, { rateMbit: 20, delayMs: 5 }] });
    dir = mkdtempSync(join(tmpdir(), "mlvpn-examples-"));
    chmodSync(dir, 0o755); // nobody reads nothing here, but the path must be traversable
    for (const side of ["client", "server"] as const) {
      mkdirSync(join(dir, side), { mode: 0o700 });
      const script = join(dir, side, "mlvpn0_updown.sh");
      copyFileSync(join(EXAMPLES, side, "mlvpn0_updown.sh"), script);
      chmodSync(script, 0o700);
      let conf = readFileSync(join(EXAMPLES, side, "mlvpn0.conf"), "utf8");
      conf = setKey(conf, "general", "statuscommand", script);
      if (side === "client") {
        topo.uplinks.forEach((u, i) => {
          conf = setKey(conf, `adsl${i + 1}`, "bindhost", u.clientAddr);
          conf = setKey(conf, `adsl${i + 1}`, "remotehost", topo.serverPublic);
        });
      } else {
        conf = setKey(conf, "general", "ip4_routes", `${topo.lanHost.replace(/\.\d+$/, ".0")}/24`);
      }
      writeFileSync(join(dir, side, "mlvpn0.conf"), conf, { mode: 0o600 });
      const log = join(dir, `${side}.log`);
      ends[side] = topo.lab.spawn(side, [BIN, "-c", join(dir, side, "mlvpn0.conf"), "--user", "nobody", "--debug"], { stdout: log, stderr: log });
    }
    await waitFor(async () => (await pingOk(topo.lab, "lan", topo.internetHost, { count: 1, intervalMs: 200 })).received === 1, {
      timeoutMs: 30_000,
      what: "a ping from the LAN host to the internet host through the examples' tunnel",
    });
  }, 90_000);

  afterAll(async () => {
    await topo?.destroy();
    if (dir && !process.env.MLVPN_KEEP_E2E) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test("the client's script set the tunnel address and the two half-default routes", async () => {
    const addr = await topo.lab.exec("client", ["ip", "-4", "addr", "show", "dev", "mlvpn0"], { check: true });
    expect(addr.stdout).toContain("inet 10.42.42.2/30");
    const routes = await topo.lab.exec("client", ["ip", "-4", "route", "show", "dev", "mlvpn0"], { check: true });
    expect(routes.stdout).toContain("0.0.0.0/1");
    expect(routes.stdout).toContain("128.0.0.0/1");
  });

  test("ping through the tunnel, and the internet host sees the server's address (masquerade)", async () => {
    const ping = await pingOk(topo.lab, "lan", topo.internetHost, { count: 5, intervalMs: 100 });
    expect(ping.received).toBe(5);
    const listener = `const s = Bun.listen({ hostname: "${topo.internetHost}", port: 7100, socket: { open(c) { console.log(c.remoteAddress); c.end(); process.exit(0); }, data() {} } }); console.log("listening");`;
    writeFileSync(join(dir, "listener.ts"), listener);
    const l = topo.lab.spawn("inet", [process.execPath, join(dir, "listener.ts")], { stdout: "pipe" });
    const reader = (l.stdout as ReadableStream<Uint8Array>).getReader();
    let seen = "";
    while (!seen.includes("listening")) {
      const r = await reader.read();
      if (r.done) break;
      seen += new TextDecoder().decode(r.value);
    }
    const connect = `await Bun.connect({ hostname: "${topo.internetHost}", port: 7100, socket: { data() {}, close() { process.exit(0); } } });`;
    writeFileSync(join(dir, "connect.ts"), connect);
    await topo.lab.exec("lan", [process.execPath, join(dir, "connect.ts")], { timeoutMs: 10_000 });
    for (let r = await reader.read(); !r.done; r = await reader.read()) seen += new TextDecoder().decode(r.value);
    expect(seen.split("\n").map((s) => s.trim())).toContain("10.20.0.1");
    const nat = await topo.lab.exec("server", ["nft", "list", "table", "ip", "mlvpn_mlvpn0"], { check: true });
    expect(nat.stdout).toContain('iifname "mlvpn0" oifname != "mlvpn0" masquerade');
  }, 30_000);

  test("SIGTERM: both ends exit 0; the server's NAT table and the routes are gone", async () => {
    for (const side of ["client", "server"] as const) ends[side]!.kill("SIGTERM");
    const codes = await Promise.race([Promise.all([ends.client!.exited, ends.server!.exited]), Bun.sleep(20_000).then(() => "timeout")]);
    expect(codes).toEqual([0, 0]);
    const nat = await topo.lab.exec("server", ["nft", "list", "tables"]);
    expect(nat.stdout).not.toContain("mlvpn_mlvpn0");
    const routes = await topo.lab.exec("server", ["ip", "-4", "route", "show"]);
    expect(routes.stdout).not.toContain("mlvpn0");
  }, 30_000);
});
