/**
 * One bulk TCP connection (tcpmodel.ts) through a SimPair: the real Tunnel on both ends, its
 * handshakes, cryptography, scheduling and reorder buffer, on the simulated links. Segments are
 * full tun packets (the tunnel's 1432-byte MTU) carrying their TCP sequence number; the
 * receiver's acknowledgements are 52-byte packets going back through the tunnel (its express
 * lane), carrying the index of their record. The flow is woken by SimPair.run (`outside`).
 */
import { numberedPacket, packetId, type Side, type SimPair } from "./simnet.ts";
import { type AckRecord, type CongestionControl, TcpReceiver, TcpSender } from "./tcpmodel.ts";

const TUN_MTU = 1432;
const ACK_BYTES = 52;

export class TcpFlow {
  readonly sender: TcpSender;
  readonly receiver: TcpReceiver;
  private readonly acks: AckRecord[] = [];
  private readonly startMs: number;
  private readonly to: Side;

  /** Starts a transfer from `from`'s tun to the other end's, for `durationMs` of goodput buckets. */
  constructor(
    private readonly sim: SimPair,
    private readonly from: Side,
    durationMs: number,
    cc: CongestionControl,
  ) {
    this.to = from === "client" ? "server" : "client";
    this.startMs = sim.now;
    this.receiver = new TcpReceiver(TUN_MTU - 52, durationMs, (a) => {
      this.acks.push(a);
      this.tunnel(this.to).handleTunPacket(numberedPacket(this.acks.length - 1, ACK_BYTES), this.sim.now);
    });
    this.sender = new TcpSender(TUN_MTU, (seq) => this.tunnel(this.from).handleTunPacket(numberedPacket(seq, TUN_MTU), this.sim.now), 1, cc);
    sim.outside = this;
    this.sender.start(sim.now);
  }

  private tunnel(side: Side) {
    return side === "client" ? this.sim.client : this.sim.server;
  }

  nextTimeout(): number {
    return Math.min(this.sender.nextTimeout(), this.receiver.ackDueMs + this.startMs);
  }

  /** After every step of the simulation: what the tunnels delivered, then the flow's timers. */
  handleTimeout(nowMs: number): void {
    const segments = this.sim.rec[this.to];
    const acks = this.sim.rec[this.from];
    for (const p of segments.delivered) if (p.length === TUN_MTU) this.receiver.onSegment(packetId(p), nowMs - this.startMs);
    for (const p of acks.delivered) if (p.length === ACK_BYTES) this.sender.onAck(this.acks[packetId(p)]!, nowMs);
    segments.delivered.length = segments.deliveredAt.length = 0;
    acks.delivered.length = acks.deliveredAt.length = 0;
    if (this.sender.nextTimeout() <= nowMs) this.sender.handleTimeout(nowMs);
    if (this.receiver.ackDueMs + this.startMs <= nowMs) this.receiver.handleTimeout(Math.max(nowMs - this.startMs, this.receiver.ackDueMs));
  }

  /** Mean goodput (Mbit/s of TCP payload) over [fromMs, toMs) of the flow's time. */
  goodput(fromMs: number, toMs: number): number {
    const b = this.receiver.buckets.slice(Math.floor(fromMs / 100), Math.floor(toMs / 100));
    let bytes = 0;
    for (const x of b) bytes += x;
    return (bytes * 8) / 1000 / Math.max(1, b.length * 100);
  }

  /** The worst mean over any window of `windowMs` (in 1 s steps) within [fromMs, toMs), Mbit/s. */
  worst(fromMs: number, toMs: number, windowMs = 5000): number {
    let worst = Number.POSITIVE_INFINITY;
    for (let t = fromMs; t + windowMs <= toMs; t += 1000) worst = Math.min(worst, this.goodput(t, t + windowMs));
    return worst;
  }
}
