/**
 * A bulk TCP connection for the simulator, modelled on Linux TCP with BBR (v1, as in
 * net/ipv4/tcp_bbr.c: the lab machine's congestion control) closely enough that aggregation
 * results mean something:
 * - BBR: bottleneck bandwidth = max delivery rate over 10 rounds, min RTT over 10 s with
 *   PROBE_RTT (cwnd 4 for 200 ms), STARTUP (gain 2.885) → DRAIN → PROBE_BW (1.25, 0.75, 1 × 6),
 *   cwnd = 2 BDP + 3 packets + the ACK-aggregation allowance (extra_acked, ≤ 100 ms × bw);
 *   packet conservation during loss recovery;
 * - SACK: what was SACKed leaves the flight at once;
 * - loss detection by RACK: a packet is lost when one sent after it was delivered and a
 *   reordering window has passed: min RTT / 4 × steps, one step more for each DSACK (a spurious
 *   retransmission), at most the smoothed RTT; 0 (fast) before any reordering was seen once in
 *   recovery or with 3 packets SACKed above a hole (tcp_rack_reo_wnd);
 *   an RTO (≥ 200 ms) when nothing is acknowledged;
 * - receiver: cumulative ACK every 2 segments (40 ms delayed-ACK timer), at once for
 *   out-of-order data, a filled hole or a duplicate (DSACK); goodput = in-order payload.
 * Segments are numbered 0, 1, 2…; the simulation carries them (and ACK records) as it likes.
 */

export interface AckRecord {
  cum: number;
  sacks: number[];
  dsack: boolean;
}

const HEADERS = 52; // IPv4 + TCP with timestamps
const DELACK_MS = 40;
const MIN_RTO_MS = 200;
const MIN_RTT_WIN_MS = 10_000;
const PROBE_RTT_MS = 200;
const HIGH_GAIN = 2.885;
const CYCLE = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
const BW_WIN_ROUNDS = 10;
const EXTRA_ACKED_MAX_MS = 100;

/** Receives segments, acknowledges, counts in-order goodput per 100 ms. */
export class TcpReceiver {
  rcvNxt = 0;
  private readonly ooo = new Set<number>();
  private sacks: number[] = [];
  private dsack = false;
  private unacked = 0;
  ackDueMs = Number.POSITIVE_INFINITY;
  /** In-order payload bytes per 100 ms bucket. */
  readonly buckets: Float64Array;
  duplicates = 0;

  constructor(
    readonly payloadBytes: number,
    durationMs: number,
    private readonly sendAck: (a: AckRecord) => void,
  ) {
    this.buckets = new Float64Array(Math.ceil(durationMs / 100) + 1);
  }

  onSegment(seq: number, now: number): void {
    if (seq < this.rcvNxt || this.ooo.has(seq)) {
      this.duplicates++;
      this.dsack = true;
      return this.ack();
    }
    if (seq > this.rcvNxt) {
      this.ooo.add(seq);
      this.sacks.push(seq);
      return this.ack();
    }
    const hadHole = this.ooo.size > 0;
    let n = 1;
    this.rcvNxt++;
    while (this.ooo.delete(this.rcvNxt)) (this.rcvNxt++, n++);
    const b = Math.floor(now / 100);
    if (b < this.buckets.length) this.buckets[b]! += n * this.payloadBytes;
    if (hadHole || ++this.unacked >= 2) return this.ack();
    if (this.ackDueMs === Number.POSITIVE_INFINITY) this.ackDueMs = now + DELACK_MS;
  }

  handleTimeout(now: number): void {
    if (now >= this.ackDueMs) this.ack();
  }

  private ack(): void {
    this.sendAck({ cum: this.rcvNxt, sacks: this.sacks, dsack: this.dsack });
    this.sacks = [];
    this.dsack = false;
    this.unacked = 0;
    this.ackDueMs = Number.POSITIVE_INFINITY;
  }
}

const OUT = 1;
const DONE = 2;
const LOST = 3;

export class TcpSender {
  private cap = 1 << 14;
  private state = new Uint8Array(this.cap);
  private retrans = new Uint8Array(this.cap);
  private sentAt = new Float64Array(this.cap);
  private delivAtSend = new Float64Array(this.cap);
  private delivTimeAtSend = new Float64Array(this.cap);
  private firstTxAtSend = new Float64Array(this.cap);
  private sndUna = 0;
  private sndNxt = 0;
  private highDelivered = -1;
  private inflight = 0;
  private readonly lostQueue: number[] = [];
  // transmissions in send order, for RACK: [seq, sentAt] pairs
  private readonly txSeq: number[] = [];
  private readonly txAt: number[] = [];
  private txHead = 0;
  private delivered = 0;
  private deliveredTime = 0;
  private firstTx = 0;
  // RTT
  private srtt = 0;
  private rttvar = 0;
  private minRtt = Number.POSITIVE_INFINITY;
  private minRttStamp = 0;
  private rackXmit = -1;
  private rackRtt = 0;
  private reordSeen = false;
  private reoSteps = 1;
  private rackTimerAt = Number.POSITIVE_INFINITY;
  private lastProgress = 0;
  // BBR
  private mode: "startup" | "drain" | "probe_bw" | "probe_rtt" = "startup";
  private readonly bwRounds = new Float64Array(BW_WIN_ROUNDS);
  private roundCount = 0;
  private nextRoundDelivered = 0;
  private fullBw = 0;
  private fullBwCount = 0;
  private fullBwReached = false;
  private cycleIdx = 0;
  private cycleStamp = 0;
  private probeRttDone = 0;
  private probeRttRoundDone = false;
  private priorCwnd = 0;
  private cwnd = 10;
  private inRecovery = false;
  private recoveryPoint = 0;
  private conservation = false;
  private conservationEndRound = 0;
  private readonly extraAcked = [0, 0];
  private extraAckedIdx = 0;
  private extraAckedRound = 0;
  private ackEpochStart = 0;
  private ackEpochAcked = 0;
  // pacing
  private nextSendAt = 0;
  retransmits = 0;
  rtos = 0;

  constructor(
    readonly packetBytes: number,
    private readonly transmit: (seq: number) => void,
    private readonly seed: number,
  ) {}

  get payloadBytes(): number {
    return this.packetBytes - HEADERS;
  }

  private btlBw(): number {
    let m = 0;
    for (const b of this.bwRounds) m = Math.max(m, b);
    return m; // packets per ms
  }

  private bdp(gain: number): number {
    const bw = this.btlBw();
    if (!(bw > 0) || !Number.isFinite(this.minRtt)) return 10 * gain;
    return gain * bw * this.minRtt;
  }

  private pacingGain(): number {
    if (this.mode === "startup") return HIGH_GAIN;
    if (this.mode === "drain") return 1 / HIGH_GAIN;
    if (this.mode === "probe_rtt") return 1;
    return CYCLE[this.cycleIdx]!;
  }

  /** Packets per ms the pacer allows now. */
  private pacingRate(): number {
    const bw = this.btlBw();
    if (bw > 0) return this.pacingGain() * bw * 0.99;
    return (HIGH_GAIN * 10) / (Number.isFinite(this.minRtt) ? this.minRtt : 1);
  }

  start(now: number): void {
    this.lastProgress = now;
    this.cycleStamp = now;
    this.minRttStamp = now;
    this.nextSendAt = now;
    this.send(now);
  }

  nextTimeout(): number {
    let t = Math.min(this.rackTimerAt, this.inflight > 0 ? this.lastProgress + this.rto() : Number.POSITIVE_INFINITY);
    if (this.inflight < this.cwndNow()) t = Math.min(t, this.nextSendAt);
    return t;
  }

  private rto(): number {
    return Math.max(MIN_RTO_MS, this.srtt + 4 * this.rttvar);
  }

  handleTimeout(now: number): void {
    if (this.inflight > 0 && now >= this.lastProgress + this.rto()) {
      // RTO: everything in flight is lost; start again from one packet.
      this.rtos++;
      for (let s = this.sndUna; s < this.sndNxt; s++) if (this.state[s] === OUT) this.markLost(s);
      this.enterRecovery();
      this.cwnd = 1;
      this.lastProgress = now;
    }
    if (now >= this.rackTimerAt) this.rackDetect(now);
    this.send(now);
  }

  private cwndNow(): number {
    return this.mode === "probe_rtt" ? Math.min(this.cwnd, 4) : this.cwnd;
  }

  private grow(): void {
    if (this.sndNxt < this.cap - 1) return;
    const n = this.cap * 2;
    const g = <T extends Uint8Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.state = g(this.state);
    this.retrans = g(this.retrans);
    this.sentAt = g(this.sentAt);
    this.delivAtSend = g(this.delivAtSend);
    this.delivTimeAtSend = g(this.delivTimeAtSend);
    this.firstTxAtSend = g(this.firstTxAtSend);
    this.cap = n;
  }

  private send(now: number): void {
    for (let guard = 0; guard < 1000 && this.inflight < this.cwndNow() && now >= this.nextSendAt; guard++) {
      let seq = -1;
      while (this.lostQueue.length > 0) {
        const s = this.lostQueue.shift()!;
        if (this.state[s] === LOST) {
          seq = s;
          break;
        }
      }
      const retrans = seq >= 0;
      if (!retrans) {
        this.grow();
        seq = this.sndNxt++;
      }
      if (this.inflight === 0) this.firstTx = this.deliveredTime = now;
      this.state[seq] = OUT;
      this.retrans[seq] = retrans ? 1 : this.retrans[seq]!;
      if (retrans) this.retransmits++;
      this.sentAt[seq] = now;
      this.delivAtSend[seq] = this.delivered;
      this.delivTimeAtSend[seq] = this.deliveredTime;
      this.firstTxAtSend[seq] = this.firstTx;
      this.inflight++;
      this.txSeq.push(seq);
      this.txAt.push(now);
      // Linux paces bursts of about 1 ms of data (TSO autosizing), at least 2 packets.
      const rate = this.pacingRate();
      const burstMs = Math.max(1, 2 / rate);
      this.nextSendAt = Math.max(this.nextSendAt, now - burstMs) + 1 / rate;
      this.transmit(seq);
    }
  }

  private markLost(s: number): void {
    this.state[s] = LOST;
    this.inflight--;
    this.lostQueue.push(s);
  }

  private enterRecovery(): void {
    if (this.inRecovery) return;
    this.inRecovery = true;
    this.recoveryPoint = this.sndNxt;
    this.priorCwnd = Math.max(this.priorCwnd, this.cwnd);
    this.conservation = true;
    this.conservationEndRound = this.roundCount + 1;
    this.cwnd = Math.max(4, this.inflight + 1);
  }

  onAck(a: AckRecord, now: number): void {
    let acked = 0;
    let newest = -1;
    const deliver = (s: number): void => {
      if (this.state[s] === DONE || s >= this.sndNxt) return;
      if (this.state[s] === OUT) this.inflight--;
      this.state[s] = DONE;
      this.delivered++;
      acked++;
      if (s < this.highDelivered && this.retrans[s] === 0) this.reordSeen = true;
      this.highDelivered = Math.max(this.highDelivered, s);
      if (newest < 0 || this.sentAt[s]! > this.sentAt[newest]!) newest = s;
    };
    for (let s = this.sndUna; s < a.cum; s++) deliver(s);
    if (a.cum > this.sndUna) {
      this.sndUna = a.cum;
      this.lastProgress = now;
    }
    for (const s of a.sacks) if (s >= this.sndUna) deliver(s);
    if (a.dsack) this.reoSteps = Math.min(this.reoSteps + 1, 255);
    if (this.inRecovery && this.sndUna >= this.recoveryPoint) {
      this.inRecovery = false;
      this.conservation = false;
      this.cwnd = Math.max(this.cwnd, this.priorCwnd);
      this.priorCwnd = 0;
    }
    if (acked > 0) {
      this.lastProgress = now;
      this.onDelivered(newest, acked, now);
    }
    this.rackDetect(now);
    this.send(now);
  }

  private onDelivered(p: number, acked: number, now: number): void {
    this.deliveredTime = now;
    this.firstTx = this.sentAt[p]!;
    const rtt = now - this.sentAt[p]!;
    if (this.retrans[p] === 0) {
      if (this.srtt === 0) (this.srtt = rtt), (this.rttvar = rtt / 2);
      else (this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt)), (this.srtt = 0.875 * this.srtt + 0.125 * rtt);
    }
    // A retransmission acknowledged faster than the min RTT: the original was (tcp_rack_advance).
    const ambiguous = this.retrans[p] === 1 && rtt < this.minRtt;
    if (!ambiguous && this.sentAt[p]! > this.rackXmit) (this.rackXmit = this.sentAt[p]!), (this.rackRtt = rtt);
    // rounds and the bandwidth filter
    const roundStart = this.delivAtSend[p]! >= this.nextRoundDelivered;
    if (roundStart) {
      this.nextRoundDelivered = this.delivered;
      this.roundCount++;
      this.bwRounds[this.roundCount % BW_WIN_ROUNDS] = 0;
    }
    const interval = Math.max(this.sentAt[p]! - this.firstTxAtSend[p]!, now - this.delivTimeAtSend[p]!);
    if (interval > 0 && interval >= (Number.isFinite(this.minRtt) ? this.minRtt : 0)) {
      const rate = (this.delivered - this.delivAtSend[p]!) / interval;
      const i = this.roundCount % BW_WIN_ROUNDS;
      this.bwRounds[i] = Math.max(this.bwRounds[i]!, rate);
    }
    this.updateAckAggregation(acked, now, roundStart);
    // min RTT and PROBE_RTT
    const expired = now > this.minRttStamp + MIN_RTT_WIN_MS;
    if (this.retrans[p] === 0 && (rtt < this.minRtt || expired)) (this.minRtt = rtt), (this.minRttStamp = now);
    if (expired && this.mode !== "probe_rtt") {
      this.mode = "probe_rtt";
      this.priorCwnd = Math.max(this.priorCwnd, this.cwnd);
      this.probeRttDone = 0;
    }
    if (this.mode === "probe_rtt") this.probeRtt(now, roundStart);
    if (roundStart && !this.fullBwReached) {
      const bw = this.btlBw();
      if (bw >= this.fullBw * 1.25) (this.fullBw = bw), (this.fullBwCount = 0);
      else if (++this.fullBwCount >= 3) this.fullBwReached = true;
    }
    if (this.mode === "startup" && this.fullBwReached) this.mode = "drain";
    if (this.mode === "drain" && this.inflight <= this.bdp(1)) this.enterProbeBw(now);
    if (this.mode === "probe_bw") this.advanceCycle(now);
    if (this.conservation && this.roundCount >= this.conservationEndRound) this.conservation = false;
    this.setCwnd(acked);
  }

  private updateAckAggregation(acked: number, now: number, roundStart: boolean): void {
    if (roundStart && ++this.extraAckedRound >= 5) {
      this.extraAckedRound = 0;
      this.extraAckedIdx ^= 1;
      this.extraAcked[this.extraAckedIdx] = 0;
    }
    const expected = this.btlBw() * (now - this.ackEpochStart);
    if (this.ackEpochAcked <= expected || this.ackEpochAcked + acked >= 1 << 20) {
      this.ackEpochAcked = 0;
      this.ackEpochStart = now;
    }
    this.ackEpochAcked += acked;
    const extra = Math.min(this.ackEpochAcked - Math.min(expected, this.ackEpochAcked), this.cwnd);
    this.extraAcked[this.extraAckedIdx] = Math.max(this.extraAcked[this.extraAckedIdx]!, extra);
  }

  private probeRtt(now: number, roundStart: boolean): void {
    if (this.probeRttDone === 0 && this.inflight <= 4) {
      this.probeRttDone = now + PROBE_RTT_MS;
      this.probeRttRoundDone = false;
      this.nextRoundDelivered = this.delivered;
    } else if (this.probeRttDone > 0) {
      if (roundStart) this.probeRttRoundDone = true;
      if (this.probeRttRoundDone && now >= this.probeRttDone) {
        this.minRttStamp = now;
        this.cwnd = Math.max(this.cwnd, this.priorCwnd);
        this.priorCwnd = 0;
        if (this.fullBwReached) this.enterProbeBw(now);
        else this.mode = "startup";
      }
    }
  }

  private enterProbeBw(now: number): void {
    this.mode = "probe_bw";
    this.cycleIdx = (this.seed % 7) + 1 === 1 ? 2 : (this.seed % 7) + 1;
    this.cycleStamp = now;
  }

  private advanceCycle(now: number): void {
    const g = CYCLE[this.cycleIdx]!;
    const full = now - this.cycleStamp > this.minRtt;
    let next = full;
    if (g > 1) next = full && (this.inRecovery || this.inflight >= this.bdp(g));
    else if (g < 1) next = full || this.inflight <= this.bdp(1);
    if (next) {
      this.cycleIdx = (this.cycleIdx + 1) % CYCLE.length;
      this.cycleStamp = now;
    }
  }

  private setCwnd(acked: number): void {
    const gain = this.mode === "probe_bw" ? 2 : HIGH_GAIN;
    let target = this.bdp(gain) + 3;
    if (this.fullBwReached) target += Math.min(Math.max(this.extraAcked[0]!, this.extraAcked[1]!), this.btlBw() * EXTRA_ACKED_MAX_MS);
    if (this.conservation) this.cwnd = Math.max(this.cwnd, this.inflight + acked);
    else if (this.fullBwReached) this.cwnd = Math.min(this.cwnd + acked, target);
    else if (this.cwnd < target || this.delivered < 10) this.cwnd += acked;
    this.cwnd = Math.max(this.cwnd, 4);
  }

  /** RACK: packets sent before the newest delivered one, and older than its RTT + the reordering window, are lost. */
  private rackDetect(now: number): void {
    this.rackTimerAt = Number.POSITIVE_INFINITY;
    if (this.rackXmit < 0) return;
    const dupthresh = this.highDelivered - this.sndUna >= 3;
    const reoWnd = !this.reordSeen && (this.inRecovery || dupthresh) ? 0 : Math.min((this.minRtt / 4) * this.reoSteps, this.srtt);
    let lost = false;
    while (this.txHead < this.txSeq.length) {
      const s = this.txSeq[this.txHead]!;
      const at = this.txAt[this.txHead]!;
      if (this.state[s] !== OUT || this.sentAt[s] !== at) {
        this.txHead++;
        continue;
      }
      if (at >= this.rackXmit) break;
      const deadline = at + this.rackRtt + reoWnd;
      if (now < deadline) {
        this.rackTimerAt = deadline;
        break;
      }
      this.markLost(s);
      lost = true;
      this.txHead++;
    }
    if (this.txHead > 65536) {
      this.txSeq.splice(0, this.txHead);
      this.txAt.splice(0, this.txHead);
      this.txHead = 0;
    }
    if (lost) this.enterRecovery();
  }
}
