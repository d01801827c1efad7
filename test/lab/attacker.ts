/**
 * A hostile host for the security e2e test (test/e2e/security.e2e.test.ts), run inside a lab
 * namespace. Bounded in time (--seconds) and rate.
 *
 *   bun test/lab/attacker.ts junk --from ADDR[,ADDR…] --to ADDR:PORT[,…] --rate N --seconds S
 *       N junk datagrams per second to each target (random bytes shaped as v2 handshake messages
 *       and transport packets), from each --from address in turn (a random port).
 *   bun test/lab/attacker.ts replay --from ADDR[,…] [--to ADDR:PORT[,…]] [--peers] --ports P[,…] --seconds S
 *       captures every UDP datagram to or from the given ports (tcpdump in this namespace) and
 *       sends each one again to every target, and with --peers to every other port seen
 *       (the client's sockets).
 * Prints one JSON line at the end: {"sent": n, "captured": m, "handshakes": h, "refused": k}
 * (h: captured handshake messages, types 0x21–0x25).
 */
export {};

const [mode, ...rest] = process.argv.slice(2);
const arg = (name: string, fallback = ""): string => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1]! : fallback;
};
const froms = arg("from").split(",").filter(Boolean);
const targets = arg("to")
  .split(",")
  .filter(Boolean)
  .map((t) => {
    const i = t.lastIndexOf(":");
    return { address: t.slice(0, i), port: Number(t.slice(i + 1)) };
  });
const seconds = Number(arg("seconds", "10"));
const endAt = performance.now() + seconds * 1000;
// Answers and ICMP errors (a port that refuses) are of no interest: ignored.
const sockets = await Promise.all(froms.map((hostname) => Bun.udpSocket({ hostname, socket: { data() {}, error() {} } })));
let sent = 0;
let turn = 0;
let refused = 0;
const send = (bytes: Uint8Array, to: { address: string; port: number }) => {
  const s = sockets[turn++ % sockets.length]!;
  try {
    if (s.send(bytes, to.port, to.address)) sent++;
  } catch {
    refused++; // ENOBUFS: the kernel's queue is full; counted, not fatal
  }
};

const SHAPES: Array<[number, number]> = [[0x21, 64], [0x22, 64], [0x23, 72], [0x24, 64], [0x25, 48], [0x13, 120]];

if (mode === "junk") {
  const rate = Number(arg("rate", "200"));
  const tickMs = 20;
  // What is owed follows the clock, not the number of ticks: on a loaded machine a 20 ms sleep
  // may last 100 ms, and counting ticks then sent a fraction of the rate (6688 of 10 000 once).
  const startedAt = performance.now();
  let rounds = 0;
  while (performance.now() < endAt) {
    const due = Math.floor(((performance.now() - startedAt) * rate) / 1000);
    for (; rounds < due; rounds++) {
      for (const t of targets) {
        const [type, size] = SHAPES[Math.floor(Math.random() * SHAPES.length)]!;
        const b = crypto.getRandomValues(new Uint8Array(size));
        b[0] = type;
        if (type === 0x21 || type === 0x22) b[1] = 2;
        if (type === 0x23) b[1] = 0;
        send(b, t);
      }
    }
    await Bun.sleep(tickMs);
  }
  console.log(JSON.stringify({ sent, refused }));
} else if (mode === "replay") {
  const ports = arg("ports").split(",").map(Number);
  const filter = ports.map((p) => `port ${p}`).join(" or ");
  // Not what we send ourselves, nor what is answered to us: each datagram is replayed once per target.
  const ours = sockets.map((s) => `port ${s.port}`).join(" or ");
  const dump = Bun.spawn(["tcpdump", "-i", "any", "-U", "--immediate-mode", "-n", "-w", "-", `udp and (${filter}) and not (${ours})`], { stdout: "pipe", stderr: "ignore" });
  let captured = 0;
  let handshakes = 0;
  const peerPorts = new Set<string>();
  let buf = new Uint8Array(0);
  let linktype = -1;
  const reader = dump.stdout.getReader();
  const onDatagram = (ip: Uint8Array) => {
    if (ip.length < 28 || ip[0]! >> 4 !== 4 || ip[9] !== 17) return;
    const ihl = (ip[0]! & 0x0f) * 4;
    const srcPort = (ip[ihl]! << 8) | ip[ihl + 1]!;
    const src = `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
    const payload = ip.slice(ihl + 8);
    captured++;
    if (payload[0]! >= 0x21 && payload[0]! <= 0x25) handshakes++;
    if (rest.includes("--peers") && !ports.includes(srcPort)) peerPorts.add(`${src}:${srcPort}`);
    for (const t of targets) send(payload, t);
    for (const p of peerPorts) {
      const i = p.lastIndexOf(":");
      send(payload, { address: p.slice(0, i), port: Number(p.slice(i + 1)) });
    }
  };
  const timer = setTimeout(() => dump.kill(), seconds * 1000);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf);
    joined.set(value, buf.length);
    buf = joined;
    let off = 0;
    if (linktype < 0) {
      if (buf.length < 24) continue;
      linktype = new DataView(buf.buffer).getUint32(20, true);
      off = 24;
    }
    const dv = new DataView(buf.buffer, buf.byteOffset);
    while (buf.length - off >= 16) {
      const caplen = dv.getUint32(off + 8, true);
      if (buf.length - off - 16 < caplen) break;
      const frame = buf.subarray(off + 16, off + 16 + caplen);
      // LINUX_SLL (113): 16-byte header; LINUX_SLL2 (276): 20 bytes.
      onDatagram(frame.subarray(linktype === 276 ? 20 : 16));
      off += 16 + caplen;
    }
    buf = buf.slice(off);
    if (performance.now() >= endAt) break;
  }
  clearTimeout(timer);
  dump.kill();
  console.log(JSON.stringify({ sent, captured, handshakes, refused }));
} else {
  console.error("usage: attacker.ts junk|replay …");
  process.exit(2);
}
process.exit(0);
