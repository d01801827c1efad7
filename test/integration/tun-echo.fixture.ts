/**
 * Helper process for tun.test.ts, run inside the test's own network namespace
 * (`ip netns exec NS bun tun-echo.fixture.ts …`). Never sends outside that namespace.
 *
 *   serve --name N --kind tun|tap --mtu M [--txq Q] [--up]
 *     Opens the device and reports {"event":"ready",name,downWrite} on stdout (JSON lines).
 *     With --up (tun only): brings it up as 10.77.0.1/24, answers ICMP echo requests to any other
 *     address by writing echo replies back into the tun, counts UDP packets to port 9999, and
 *     listens on 10.77.0.1:7777. stdin commands: "stats"; "big" (writes a 3000-byte UDP packet
 *     from 10.77.0.2 to 10.77.0.1:7777 into the tun, larger than the MTU). EOF on stdin: stop the
 *     reader, close the tun, print {"event":"stopped"} and end WITHOUT process.exit — the test
 *     checks that nothing (e.g. the poll worker) keeps the process alive.
 *
 *   send --dst A --port P --count N --size S --pps R
 *     Paced UDP flood to A:P (an address routed into the tun); prints {"event":"sent",…}.
 */
import { parseArgs } from "node:util";
import { openTun } from "../../src/io/tun.ts";
import { startTunReader } from "../../src/io/tun-reader.ts";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: "string" }, kind: { type: "string" }, mtu: { type: "string" }, txq: { type: "string" },
    up: { type: "boolean" }, dst: { type: "string" }, port: { type: "string" }, count: { type: "string" },
    size: { type: "string" }, pps: { type: "string" },
  },
});

const emit = (o: object) => console.log(JSON.stringify(o));
const LOCAL = [10, 77, 0, 1];
const PEER = [10, 77, 0, 2];
const UDP_COUNT_PORT = 9999;
const UDP_LISTEN_PORT = 7777;

/** RFC 1071 Internet checksum of p[from, to). */
function checksum(p: Uint8Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i += 2) sum += (p[i]! << 8) | (i + 1 < to ? p[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An IPv4/UDP packet from PEER:5555 to LOCAL:dport, `size` bytes in total, UDP checksum 0 (none). */
function udpPacket(size: number, dport: number): Uint8Array {
  const p = new Uint8Array(size);
  const v = new DataView(p.buffer);
  p.set([0x45, 0, size >> 8, size & 255, 0, 1, 0, 0, 64, 17, 0, 0, ...PEER, ...LOCAL]);
  v.setUint16(10, checksum(p, 0, 20));
  v.setUint16(20, 5555);
  v.setUint16(22, dport);
  v.setUint16(24, size - 20);
  for (let i = 28; i < size; i++) p[i] = i & 255;
  return p;
}

async function serve(): Promise<void> {
  const kind = values.kind === "tap" ? "tap" : "tun";
  const tun = openTun({
    name: values.name ?? "", kind, mtu: Number(values.mtu),
    ...(values.txq === undefined ? {} : { txQueueLen: Number(values.txq) }),
  });
  // Before the interface is up the kernel refuses writes; openTun's contract says: false, no throw.
  const downWrite = kind === "tun" ? tun.write(udpPacket(100, UDP_LISTEN_PORT)) : null;

  const stats = { packets: 0, drains: 0, maxDrain: 0, echoReplies: 0, writeDrops: 0, udp: 0, udpBytes: 0, badLength: 0, other: 0 };
  let inDrain = 0;
  let sock: { close(): void } | undefined;
  let reader: ReturnType<typeof startTunReader> | undefined;

  if (values.up) {
    for (const cmd of [["link", "set", tun.name, "up"], ["addr", "add", "10.77.0.1/24", "dev", tun.name]]) {
      const r = Bun.spawnSync(["ip", ...cmd], { stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`ip ${cmd.join(" ")}: ${r.stderr.toString()}`);
    }
    sock = await Bun.udpSocket({
      hostname: LOCAL.join("."), port: UDP_LISTEN_PORT,
      socket: { data: (_s, data) => emit({ event: "udp", len: data.length }) },
    });
    reader = startTunReader(tun, {
      onPacket(p) {
        stats.packets++;
        inDrain++;
        if (p.length < 20 || p[0]! >> 4 !== 4) return void stats.other++;
        if (((p[2]! << 8) | p[3]!) !== p.length) return void stats.badLength++; // truncated or merged
        const ihl = (p[0]! & 15) * 4;
        if (p[9] === 1 && p[ihl] === 8 && p[19] !== LOCAL[3]) {
          // Echo request → reply in place: swap addresses (IP checksum unchanged), type 0.
          for (let i = 12; i < 16; i++) [p[i], p[i + 4]] = [p[i + 4]!, p[i]!];
          p[ihl] = 0;
          p[ihl + 2] = p[ihl + 3] = 0;
          const c = checksum(p, ihl, p.length);
          p[ihl + 2] = c >> 8;
          p[ihl + 3] = c & 255;
          if (tun.write(p)) stats.echoReplies++;
          else stats.writeDrops++;
        } else if (p[9] === 17 && ((p[ihl + 2]! << 8) | p[ihl + 3]!) === UDP_COUNT_PORT) {
          stats.udp++;
          stats.udpBytes += p.length;
        } else {
          stats.other++;
        }
      },
      onDrainEnd() {
        stats.drains++;
        if (inDrain > stats.maxDrain) stats.maxDrain = inDrain;
        inDrain = 0;
      },
      onError: (e) => emit({ event: "error", message: e.message }),
    });
  }
  emit({ event: "ready", name: tun.name, downWrite });

  for await (const line of console) {
    if (line === "stats") emit({ event: "stats", ...stats, cpu: process.cpuUsage() });
    else if (line === "big") emit({ event: "big-written", ok: tun.write(udpPacket(3000, UDP_LISTEN_PORT)) });
  }
  const t0 = performance.now();
  await reader?.stop();
  const stopMs = Math.round(performance.now() - t0);
  tun.close();
  sock?.close();
  emit({ event: "stopped", stopMs });
}

async function send(): Promise<void> {
  const count = Number(values.count);
  const pps = Number(values.pps);
  const payload = new Uint8Array(Number(values.size));
  let errors = 0;
  const sock = await Bun.udpSocket({
    connect: { hostname: values.dst ?? "", port: Number(values.port) },
    socket: { error: () => void errors++ },
  });
  const batch: Uint8Array[] = [];
  let sent = 0;
  const t0 = performance.now();
  // Paced: every ~1 ms send what the target rate allows by now (at most 256 at once).
  while (sent < count) {
    const due = Math.min(count, Math.floor(((performance.now() - t0) / 1000) * pps)) - sent;
    if (due > 0) {
      batch.length = 0;
      for (let i = 0; i < Math.min(due, 256); i++) batch.push(payload);
      try {
        sent += sock.sendMany(batch);
      } catch {
        errors++;
      }
    }
    await Bun.sleep(1);
  }
  const ms = performance.now() - t0;
  sock.close();
  emit({ event: "sent", sent, errors, ms: Math.round(ms), pps: Math.round(sent / (ms / 1000)) });
}

if (positionals[0] === "serve") await serve();
else if (positionals[0] === "send") await send();
else throw new Error(`usage: tun-echo.fixture.ts serve|send …`);
