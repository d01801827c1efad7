/**
 * A bulk TCP connection for the simulator, modelled on Linux TCP closely enough that
 * aggregation results mean something, with either congestion control:
 * - CUBIC (the default: Linux's, Windows' and macOS's default, so most LANs' TCP), as in
 *   net/ipv4/tcp_cubic.c: slow start with HyStart (delay increase and ACK train), then
 *   W(t) = C (t − K)³ + W_max with C = 0.4, β = 0.7, fast convergence and the Reno-friendly
 *   region; no pacing (ACK-clocked bursts, as without the fq qdisc); in recovery, proportional
 *   rate reduction down to ssthresh = β cwnd (RFC 6937); the reduction undone when DSACKs show every retransmission of the
 *   episode was spurious (tcp_try_undo_dsack: reordering, not loss); receive window 3 MB
 *   (tcp_rmem's default maximum with tcp_adv_win_scale 1);
 * - BBR (v1, as in net/ipv4/tcp_bbr.c; the lab machine's default): bottleneck bandwidth = max delivery rate over 10 rounds, min RTT over 10 s with
 *   PROBE_RTT (cwnd 4 for 200 ms), STARTUP (gain 2.885) → DRAIN → PROBE_BW (1.25, 0.75, 1 × 6),
 *   cwnd = 2 BDP + 3 packets + the ACK-aggregation allowance (extra_acked, ≤ 100 ms × bw);
 *   packet conservation during loss recovery;
 * - SACK: what was SACKed leaves the flight at once;
 * - loss detection by RACK: a packet is lost when one sent after it was delivered and a
 *   reordering window has passed: min RTT / 4 × steps, one step more for each DSACK (a spurious
 *   retransmission), at most the smoothed RTT; 0 (fast) before any reordering was seen once in
 *   recovery or with 3 packets SACKed above a hole (tcp_rack_reo_wnd);
 *   an RTO (≥ 200 ms; 1 s before any RTT sample, doubled while RTOs repeat) when nothing is
 *   acknowledged; lost packets are sent again in sequence order, the oldest first
 *   (tcp_xmit_retransmit_queue), whatever order they were found lost in;
 * - receiver: cumulative ACK every 2 segments (40 ms delayed-ACK timer), at once for
 *   out-of-order data, a filled hole or a duplicate (DSACK); goodput = in-order payload. Each
 *   ACK carries SACK blocks as Linux's do (tcp_sack_new_ofo_skb): ranges of what is held out of
 *   order, the most recently changed first, four kept and three sent (two beside a DSACK), so
 *   that a lost ACK loses no SACK information the next one does not repeat.
 * Segments are numbered 0, 1, 2…; the simulation carries them (and ACK records) as it likes.
 */

export interface AckRecord {
  cum: number;
  /** SACK blocks, [start, end) pairs of segment numbers flattened: start0, end0, start1, end1… */
  sacks: number[];
  dsack: boolean;
}

const HEADERS = 52; // IPv4 + TCP with timestamps
const DELACK_MS = 40;
const MIN_RTO_MS = 200;
/** Before any RTT sample (TCP_TIMEOUT_INIT, RFC 6298 §2.1); each RTO in a row doubles it (§5.5) up to TCP_RTO_MAX. */
const INITIAL_RTO_MS = 1000;
const MAX_RTO_MS = 120_000;
const MIN_RTT_WIN_MS = 10_000;
const PROBE_RTT_MS = 200;
const HIGH_GAIN = 2.885;
const CYCLE = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
const BW_WIN_ROUNDS = 10;
const EXTRA_ACKED_MAX_MS = 100;
// CUBIC (tcp_cubic.c)
const CUBIC_C = 0.4; // per s³
const CUBIC_BETA = 0.7;
const HYSTART_LOW_WINDOW = 16;
const HYSTART_MIN_SAMPLES = 8;
const HYSTART_ACK_DELTA_MS = 2;
/** tcp_rmem[2] = 6 MB, half of it advertised (tcp_adv_win_scale = 1), in 1448-byte segments. */
const RWND_PACKETS = Math.floor(3 * 1024 * 1024 / 1448);
/** SACK blocks a receiver keeps (TCP_NUM_SACKS) and sends (the option space beside timestamps: 3, a DSACK block among them). */
const KEPT_SACK_BLOCKS = 4;
const SENT_SACK_BLOCKS = 3;

export type CongestionControl = "cubic" | "bbr";

/** Receives segments, acknowledges, counts in-order goodput per 100 ms. */
export class TcpReceiver {
  rcvNxt = 0;
  private readonly ooo = new Set<number>();
  /** SACK blocks, [start, end), the most recently changed first. */
  private readonly blocks: [number, number][] = [];
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
      this.addSack(seq);
      return this.ack();
    }
    const hadHole = this.ooo.size > 0;
    let n = 1;
    this.rcvNxt++;
    while (this.ooo.delete(this.rcvNxt)) (this.rcvNxt++, n++);
    // tcp_sack_remove: blocks the cumulative acknowledgement reached are dropped.
    for (let i = this.blocks.length - 1; i >= 0; i--) if (this.blocks[i]![0] <= this.rcvNxt) this.blocks.splice(i, 1);
    const b = Math.floor(now / 100);
    if (b < this.buckets.length) this.buckets[b]! += n * this.payloadBytes;
    if (hadHole || ++this.unacked >= 2) return this.ack();
    if (this.ackDueMs === Number.POSITIVE_INFINITY) this.ackDueMs = now + DELACK_MS;
  }

  handleTimeout(now: number): void {
    if (now >= this.ackDueMs) this.ack();
  }

  /**
   * tcp_sack_new_ofo_skb: the block a segment extends (or touches) grows and moves to the front,
   * taking in any other it now touches; else a new block goes in front, the oldest dropped.
   */
  private addSack(seq: number): void {
    const i = this.blocks.findIndex(([s, e]) => s <= seq + 1 && seq <= e);
    let b: [number, number];
    if (i >= 0) {
      b = this.blocks.splice(i, 1)[0]!;
      b[0] = Math.min(b[0], seq);
      b[1] = Math.max(b[1], seq + 1);
      for (let j = this.blocks.length - 1; j >= 0; j--) {
        const o = this.blocks[j]!;
        if (o[0] <= b[1] && b[0] <= o[1]) (b[0] = Math.min(b[0], o[0])), (b[1] = Math.max(b[1], o[1])), this.blocks.splice(j, 1);
      }
    } else {
      b = [seq, seq + 1];
      if (this.blocks.length >= KEPT_SACK_BLOCKS) this.blocks.pop();
    }
    this.blocks.unshift(b);
  }

  private ack(): void {
    const sacks: number[] = [];
    const n = Math.min(this.blocks.length, this.dsack ? SENT_SACK_BLOCKS - 1 : SENT_SACK_BLOCKS);
    for (let i = 0; i < n; i++) sacks.push(this.blocks[i]![0], this.blocks[i]![1]);
    this.sendAck({ cum: this.rcvNxt, sacks, dsack: this.dsack });
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
  /** BBR: sent while the connection was app-limited (PROBE_RTT): its rate sample says nothing of the path. */
  private appLimitedAtSend = new Uint8Array(this.cap);
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
  /** The SACK blocks of the last acknowledgement processed (onAck). */
  private sackCache: number[] = [];
  private reoSteps = 1;
  private rackTimerAt = Number.POSITIVE_INFINITY;
  private lastProgress = 0;
  /** RTOs in a row without an acknowledgement of new data: each doubles the next. */
  private rtoBackoff = 0;
  // BBR
  private mode: "startup" | "drain" | "probe_bw" | "probe_rtt" = "startup";
  /** The bandwidth filter: a windowed running maximum over BW_WIN_ROUNDS rounds (Linux's minmax, win_minmax.c). */
  private readonly bwMax = new RunningMax(BW_WIN_ROUNDS);
  /** Packets sent before this much is delivered are app-limited (tp->app_limited, renewed on every acknowledgement in PROBE_RTT). */
  private appLimitedUntil = 0;
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
  // CUBIC
  private ssthresh = Number.POSITIVE_INFINITY;
  private lastMaxCwnd = 0;
  private epochStart = -1;
  private originPoint = 0;
  private cubicK = 0;
  private ackCnt = 0;
  private tcpCwnd = 0;
  private cwndCnt = 0;
  private hyRoundStart = 0;
  private hyLastAck = 0;
  private hyCurrRtt = Number.POSITIVE_INFINITY;
  private hySamples = 0;
  private hyEndSeq = 0;
  /** Undo state of the last loss episode (tcp_try_undo_dsack). */
  private undoRetrans = -1;
  private undoCwnd = 0;
  private undoSsthresh = 0;
  private undoLastMax = 0;
  // PRR (RFC 6937) during recovery
  private prrPrior = 0;
  private prrDelivered = 0;
  private prrOut = 0;
  // pacing
  private nextSendAt = 0;
  retransmits = 0;
  rtos = 0;
  undos = 0;

  constructor(
    readonly packetBytes: number,
    private readonly transmit: (seq: number) => void,
    private readonly seed: number,
    readonly cc: CongestionControl = "cubic",
  ) {}

  get payloadBytes(): number {
    return this.packetBytes - HEADERS;
  }

  private btlBw(): number {
    return this.bwMax.value; // packets per ms
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

  /**
   * The connection is established: data may flow. `handshakeRttMs`, the SYN → SYN-ACK round trip,
   * is Linux's first RTT sample: it seeds the smoothed RTT and, with BBR, the minimum RTT (bbr_init
   * takes tcp_min_rtt, which the SYN-ACK's sample set), and so BBR's first pacing rate and window.
   * CUBIC's own delay_min (HyStart) starts from the data's acknowledgements only.
   */
  start(now: number, handshakeRttMs?: number): void {
    if (handshakeRttMs !== undefined && handshakeRttMs > 0) {
      this.srtt = handshakeRttMs;
      this.rttvar = handshakeRttMs / 2;
      if (this.cc === "bbr") this.minRtt = handshakeRttMs;
    }
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
    const base = this.srtt === 0 ? INITIAL_RTO_MS : Math.max(MIN_RTO_MS, this.srtt + 4 * this.rttvar);
    return Math.min(MAX_RTO_MS, base * 2 ** this.rtoBackoff);
  }

  handleTimeout(now: number): void {
    if (this.inflight > 0 && now >= this.lastProgress + this.rto()) {
      // RTO: everything in flight is lost; start again from one packet.
      this.rtos++;
      this.rtoBackoff++;
      for (let s = this.sndUna; s < this.sndNxt; s++) if (this.state[s] === OUT) this.markLost(s);
      this.enterRecovery();
      this.undoRetrans = -1; // an RTO is not undone by DSACK here (F-RTO is not modelled)
      // CUBIC: the Loss state slow-starts from one packet up to ssthresh (tcp_cong_avoid runs in
      // it), retransmitting what was lost first; it is not a cwnd reduction like fast recovery.
      if (this.cc === "cubic") this.inRecovery = false;
      this.cwnd = 1;
      this.lastProgress = now;
    }
    if (now >= this.rackTimerAt) this.rackDetect(now);
    this.send(now);
  }

  private cwndNow(): number {
    if (this.cc === "cubic") return Math.min(this.cwnd, RWND_PACKETS);
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
    this.appLimitedAtSend = g(this.appLimitedAtSend);
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
      if (this.inRecovery) this.prrOut++;
      if (retrans) {
        this.retransmits++;
        if (this.undoRetrans >= 0) this.undoRetrans++;
      }
      this.sentAt[seq] = now;
      this.delivAtSend[seq] = this.delivered;
      this.delivTimeAtSend[seq] = this.deliveredTime;
      this.firstTxAtSend[seq] = this.firstTx;
      this.appLimitedAtSend[seq] = this.delivered < this.appLimitedUntil ? 1 : 0;
      this.inflight++;
      this.txSeq.push(seq);
      this.txAt.push(now);
      if (this.cc === "bbr") {
        // Linux paces bursts of about 1 ms of data (TSO autosizing), at least 2 packets.
        const rate = this.pacingRate();
        const burstMs = Math.max(1, 2 / rate);
        this.nextSendAt = Math.max(this.nextSendAt, now - burstMs) + 1 / rate;
      }
      this.transmit(seq);
    }
  }

  private markLost(s: number): void {
    this.state[s] = LOST;
    this.inflight--;
    // Retransmissions go in sequence order, the oldest first (Linux walks its retransmission
    // queue from snd_una: tcp_xmit_retransmit_queue), whatever order the losses were found in.
    const q = this.lostQueue;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (q[mid]! < s) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, s);
  }

  private enterRecovery(): void {
    if (this.inRecovery) return;
    this.inRecovery = true;
    this.recoveryPoint = this.sndNxt;
    if (this.cc === "cubic") {
      this.undoRetrans = 0;
      this.undoCwnd = this.cwnd;
      this.undoSsthresh = this.ssthresh;
      this.undoLastMax = this.lastMaxCwnd;
      // bictcp_recalc_ssthresh, with fast convergence
      this.epochStart = -1;
      this.lastMaxCwnd = this.cwnd < this.lastMaxCwnd ? (this.cwnd * (1 + CUBIC_BETA)) / 2 : this.cwnd;
      this.ssthresh = Math.max(2, this.cwnd * CUBIC_BETA);
      this.prrPrior = this.cwnd;
      this.prrDelivered = 0;
      this.prrOut = 0;
      this.cwnd = Math.min(this.cwnd, this.inflight + 1);
      return;
    }
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
    // SACK blocks, less what the last acknowledgement's blocks covered (Linux's recv_sack_cache):
    // those were delivered then, and a block repeated on every ACK is not walked again.
    const c = this.sackCache;
    for (let k = 0; k < a.sacks.length; k += 2) {
      for (let s = Math.max(a.sacks[k]!, this.sndUna); s < a.sacks[k + 1]!; ) {
        let skip = s;
        for (let j = 0; j < c.length; j += 2) if (c[j]! <= s && s < c[j + 1]!) skip = Math.max(skip, c[j + 1]!);
        if (skip > s) s = skip;
        else deliver(s++);
      }
    }
    this.sackCache = a.sacks;
    if (a.dsack) {
      this.reoSteps = Math.min(this.reoSteps + 1, 255);
      // Every retransmission of the episode came back as a duplicate: it was reordering.
      if (this.cc === "cubic" && this.undoRetrans > 0 && --this.undoRetrans === 0) this.undo();
    }
    if (this.inRecovery && this.sndUna >= this.recoveryPoint) {
      // Recovery over without a retransmission that was needed (none sent, or all DSACKed):
      // what looked lost was reordered, the reduction is undone (tcp_try_undo_recovery).
      if (this.cc === "cubic") {
        if (this.undoRetrans === 0) this.undo();
        else this.cwnd = this.ssthresh; // PRR's end point
      }
      this.inRecovery = false;
      this.conservation = false;
      this.cwnd = Math.max(this.cwnd, this.priorCwnd);
      this.priorCwnd = 0;
    }
    if (acked > 0) {
      this.lastProgress = now;
      this.rtoBackoff = 0; // an acknowledgement of new data ends the backoff (tcp_ack: icsk_backoff)
      this.onDelivered(newest, acked, now);
    }
    this.rackDetect(now);
    if (this.cc === "cubic" && this.inRecovery) this.prr(acked);
    this.send(now);
  }

  /**
   * Proportional rate reduction (RFC 6937, tcp_cwnd_reduction): during recovery, send about
   * ssthresh / prior cwnd of what is delivered, so that the window comes down to ssthresh by the
   * end of the episode, and only what gets through clocks out new data (lost retransmissions do
   * not let it flood the path).
   */
  private prr(delivered: number): void {
    this.prrDelivered += delivered;
    const pipe = this.inflight;
    const sndcnt =
      pipe > this.ssthresh
        ? Math.ceil((this.prrDelivered * this.ssthresh) / this.prrPrior) - this.prrOut
        : Math.min(this.ssthresh - pipe, Math.max(this.prrDelivered - this.prrOut, delivered) + 1);
    this.cwnd = pipe + Math.max(0, sndcnt);
  }

  private undo(): void {
    this.undos++;
    this.undoRetrans = -1;
    this.cwnd = Math.max(this.cwnd, this.undoCwnd);
    this.ssthresh = Math.max(this.ssthresh, this.undoSsthresh);
    this.lastMaxCwnd = Math.max(this.lastMaxCwnd, this.undoLastMax);
    this.inRecovery = false;
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
    if (this.cc === "cubic") return this.cubicOnAck(p, rtt, acked, now);
    // rounds and the bandwidth filter
    const roundStart = this.delivAtSend[p]! >= this.nextRoundDelivered;
    if (roundStart) {
      this.nextRoundDelivered = this.delivered;
      this.roundCount++;
    }
    const interval = Math.max(this.sentAt[p]! - this.firstTxAtSend[p]!, now - this.delivTimeAtSend[p]!);
    if (interval > 0 && interval >= (Number.isFinite(this.minRtt) ? this.minRtt : 0)) {
      const rate = (this.delivered - this.delivAtSend[p]!) / interval;
      // bbr_update_bw: an app-limited sample counts only if it is a new maximum. PROBE_RTT's
      // 4-packet rounds would otherwise expire the filter on short paths (200 ms is 20 rounds of
      // 10 ms) and leave BBR to regrow its estimate by a quarter every 8 rounds.
      if (this.appLimitedAtSend[p] === 0 || rate >= this.btlBw()) this.bwMax.update(this.roundCount, rate);
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
    if (this.mode === "probe_rtt") {
      // "Ignore low rate samples during this mode" (bbr_update_min_rtt): what is sent until
      // everything now in flight is delivered is app-limited.
      this.appLimitedUntil = Math.max(this.delivered + this.inflight, 1);
      this.probeRtt(now, roundStart);
    }
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

  private cubicOnAck(p: number, rtt: number, acked: number, now: number): void {
    if (this.retrans[p] === 0 && rtt < this.minRtt) this.minRtt = rtt; // cubic's delay_min: never expires
    if (this.inRecovery) return; // cwnd stays at ssthresh until recovery ends (PRR's end point)
    if (this.cwnd < this.ssthresh) {
      this.hystart(p, rtt, now);
      this.cwnd = Math.min(this.cwnd + acked, Math.max(this.ssthresh, this.cwnd));
      return;
    }
    // bictcp_update
    if (this.epochStart < 0) {
      this.epochStart = now;
      this.ackCnt = acked;
      this.tcpCwnd = this.cwnd;
      if (this.lastMaxCwnd <= this.cwnd) (this.cubicK = 0), (this.originPoint = this.cwnd);
      else (this.cubicK = Math.cbrt((this.lastMaxCwnd - this.cwnd) / CUBIC_C)), (this.originPoint = this.lastMaxCwnd);
    } else this.ackCnt += acked;
    const t = (now + this.minRtt - this.epochStart) / 1000;
    const target = this.originPoint + CUBIC_C * (t - this.cubicK) ** 3;
    let cnt = target > this.cwnd ? this.cwnd / (target - this.cwnd) : 100 * this.cwnd;
    if (this.lastMaxCwnd === 0 && cnt > 20) cnt = 20;
    // The Reno-friendly region: never grow slower than Reno with β = 0.7 would.
    const delta = this.cwnd / ((3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA));
    while (this.ackCnt > delta) (this.ackCnt -= delta), this.tcpCwnd++;
    if (this.tcpCwnd > this.cwnd) cnt = Math.min(cnt, this.cwnd / (this.tcpCwnd - this.cwnd));
    cnt = Math.max(cnt, 2);
    this.cwndCnt += acked;
    if (this.cwndCnt >= cnt) {
      this.cwnd += Math.floor(this.cwndCnt / cnt);
      this.cwndCnt -= Math.floor(this.cwndCnt / cnt) * cnt;
    }
  }

  /** HyStart (tcp_cubic.c): slow start ends when a round's first RTTs grow, or its ACK train spans half the min RTT. */
  private hystart(p: number, rtt: number, now: number): void {
    if (p >= this.hyEndSeq) {
      this.hyEndSeq = this.sndNxt;
      this.hyRoundStart = this.hyLastAck = now;
      this.hyCurrRtt = Number.POSITIVE_INFINITY;
      this.hySamples = 0;
    }
    if (this.cwnd < HYSTART_LOW_WINDOW || !Number.isFinite(this.minRtt)) return;
    if (now - this.hyLastAck <= HYSTART_ACK_DELTA_MS) {
      this.hyLastAck = now;
      if (now - this.hyRoundStart > this.minRtt / 2) return void (this.ssthresh = this.cwnd);
    }
    if (this.hySamples < HYSTART_MIN_SAMPLES) {
      this.hyCurrRtt = Math.min(this.hyCurrRtt, rtt);
      this.hySamples++;
    } else if (this.hyCurrRtt > this.minRtt + Math.min(16, Math.max(4, this.minRtt / 8))) this.ssthresh = this.cwnd;
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

/**
 * A windowed running maximum that keeps the best, second and third best samples of the window
 * (Kathleen Nichols' algorithm, as Linux's lib/win_minmax.c): O(1) per update, and a sample
 * expires only when a newer one is fed, so rounds without a sample keep the estimate.
 */
export class RunningMax {
  private readonly t = [0, 0, 0];
  private readonly v = [0, 0, 0];

  constructor(private readonly win: number) {}

  get value(): number {
    return this.v[0]!;
  }

  update(t: number, v: number): void {
    const { t: ts, v: vs } = this;
    // A new maximum, or nothing left in the window: start over with this sample.
    if (v >= vs[0]! || t - ts[2]! > this.win) return this.reset(t, v);
    if (v >= vs[1]!) (ts[1] = ts[2] = t), (vs[1] = vs[2] = v);
    else if (v >= vs[2]!) (ts[2] = t), (vs[2] = v);
    // The best has aged out: the second and third move up, this sample fills in.
    const dt = t - ts[0]!;
    if (dt > this.win) {
      ts[0] = ts[1]!, vs[0] = vs[1]!;
      ts[1] = ts[2]!, vs[1] = vs[2]!;
      ts[2] = t, vs[2] = v;
      if (t - ts[0]! > this.win) {
        ts[0] = ts[1]!, vs[0] = vs[1]!;
        ts[1] = ts[2]!, vs[1] = vs[2]!;
      }
    } else if (ts[1] === ts[0] && dt > this.win / 4) (ts[1] = ts[2] = t), (vs[1] = vs[2] = v);
    else if (ts[2] === ts[1] && dt > this.win / 2) (ts[2] = t), (vs[2] = v);
  }

  private reset(t: number, v: number): void {
    this.t.fill(t);
    this.v.fill(v);
  }
}
