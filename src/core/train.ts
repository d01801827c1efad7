/**
 * A link's rate before it carries any data: a train of TRAIN_PACKETS full-size packets sent back
 * to back when the link comes up (packet-train dispersion: Jacobson's packet pair, Keshav's
 * packet-pair flow control). The bottleneck spaces them out by its rate; the peer acknowledges
 * each at once with its clock at arrival (FEEDBACK's receive clock), so their spacing there is
 * the link's rate, a round trip after link-up.
 *
 * Why: the estimator starts from a guess (estimator.ts INITIAL_RATE_BYTES_PER_MS, 4 Mbit/s) and
 * paces at twice it in startup, with ten-packet bursts while it is a guess. An uplink slower
 * than that (ADSL's 0.5-1 Mbit/s upload, a weak LTE cell) took a first round of TCP at that
 * rate: its queue held the packets 50-170 ms behind the other link's, and TCP, seeing them
 * late or lost, ended its slow start at a fraction of the sum; two links of equal delay shared
 * TCP's first rounds equally whatever their rates (docs/scheduler.md, "A rate before the first
 * round"). Measured, the estimate starts at the link's rate, out of startup (estimator.ts startFrom).
 *
 * A reading is meant never to be above the bottleneck's rate: the median spacing passes over a
 * token bucket's burst of the first few packets, and the spacings past it over a burst of half the
 * train or more (a bucket compresses a train's head, never its tail); a train that arrives in one
 * burst (a bucket as long as the train: the lab's htb holds 10 ms of tokens, a whole train above
 * ~15 Mbit/s) or is read in one batch reads as too fast to tell and leaves the guess; the clock's
 * rounding is counted against the rate. Cross traffic makes a reading low, which the estimator's
 * cycle grows; a shaper that dequeues late can shorten spacings past its burst (the lab's htb:
 * 5 Mbit/s read up to 6.5), and so can a peer that reads a batch of the train late, past its first
 * packet: the spacing after the batch is short, and the median can take it (6.4 ms a packet,
 * packets 1-6 read together 1 ms before packet 7: 1364 bytes/ms for 234, found by
 * test/unit/send-fuzz.test.ts); the estimator lowers such a reading once a queue shows. Each
 * packet leaves as a datagram of its own (transmit.ts train): a send batch would join them.
 */
import { TUNNEL_OVERHEAD } from "../wire/layout.ts";
import type { Link } from "./link.ts";

/**
 * Packets per train: enough that the median spacing is the bottleneck's past a bucket of a few
 * packets, and that a bucket's tail (tailSpacing) still has spacings to read past the six or
 * seven packets the lab's htb passes at once on a 5 Mbit/s link (the lab read such a link's train
 * in 4 runs of 4, 3 of 4 with eight). Neutral in the simulator's random pairs (docs/scheduler.md,
 * "Twelve packets a train").
 */
export const TRAIN_PACKETS = 12;
/** Spacings (between consecutive packets both heard) needed for a reading. */
const MIN_SPACINGS = 3;
/** The peer's receive clock counts 0.1 ms. */
const CLOCK_UNITS_PER_MS = 10;
/**
 * Spacings of at most one clock unit are packets that came together (a burst): two arrival
 * clocks read on either side of a tick are one unit apart however close the packets were.
 */
const BURST_SPACING = 1;

export class RateTrain {
  /** Transport counter of the train's first packet. */
  private first = -1;
  private bytesEach = 0;
  /** Peer receive clock of each packet (0.1 ms units, wrapping u32); NaN until heard. */
  private readonly arrivals = new Float64Array(TRAIN_PACKETS).fill(Number.NaN);
  private done = false;

  /** The train's packets were sent with counters first … first + TRAIN_PACKETS − 1, `bytes` each on the wire. */
  sent(first: number, bytes: number): void {
    this.first = first;
    this.bytesEach = bytes;
  }

  /**
   * A FEEDBACK whose highest counter (low 32 bits) is `highestLow32`, which arrived at the peer at
   * `peerClock`. Returns the train's reading (bytes per ms; Infinity: too fast to tell) once the
   * train is over (its last packet acknowledged, or a later counter: the rest was lost), else
   * undefined. The train is not recorded in flight (linksender.ts): its acknowledgements give
   * the estimator no RTT or rate sample, which a burst at line rate would make too high.
   */
  onAck(highestLow32: number, peerClock: number): number | undefined {
    if (this.done || this.first < 0) return undefined;
    const k = (highestLow32 - this.first) | 0; // counters compared modulo 2^32
    if (k < 0) return undefined;
    if (k < TRAIN_PACKETS) this.arrivals[k] = peerClock;
    if (k < TRAIN_PACKETS - 1) return undefined;
    this.done = true;
    return this.reading();
  }

  get isSent(): boolean {
    return this.first >= 0;
  }

  /** Over: no reading will come from this train (acknowledged, or abandoned with its session). */
  get over(): boolean {
    return this.done;
  }

  abandon(): void {
    this.done = true;
  }

  /**
   * The bottleneck's rate from the median spacing (a bucket passes the first few at once), counted
   * one clock unit wider than read: two arrival clocks each rounded to 0.1 ms make a spacing up to
   * one unit short, so the reading is never above the rate for that (a 100 Mbit/s link's 0.12 ms
   * read as 0.1 would be 118 Mbit/s; as 0.2, 59). A bucket compresses a train's head, never its
   * tail: the spacing past its burst (tailSpacing, below) counts too, the wider of the two. A bucket of
   * half the train or more (the lab's htb at 5 Mbit/s passes 6 packets at once) left a median
   * of 0 while the tail showed the rate. With neither (the whole train in one burst, or read in
   * one batch): too fast to tell, Infinity.
   */
  private reading(): number | undefined {
    const all = this.spacings();
    const gaps = all.filter((g) => !Number.isNaN(g));
    if (gaps.length < MIN_SPACINGS) return undefined;
    const tail = tailSpacing(gaps);
    // Where some packets came together (a 0), spacings of one clock unit are the same burst read
    // across a tick of the clock: at the median they read as 59 Mbit/s (a 5 Mbit/s link in the lab).
    const bursty = gaps.includes(0);
    gaps.sort((x, y) => x - y);
    const median = gaps[gaps.length >> 1]!;
    const spacing = Math.max(bursty && median <= BURST_SPACING ? 0 : median, tail);
    return spacing > 0 ? this.bytesEach / ((spacing + 1) / CLOCK_UNITS_PER_MS) : Number.POSITIVE_INFINITY;
  }

  /** The spacing before each packet after the first, in clock units (NaN where either packet was not heard). */
  private spacings(): number[] {
    const gaps: number[] = [];
    for (let k = 1; k < TRAIN_PACKETS; k++) {
      const a = this.arrivals[k - 1]!, b = this.arrivals[k]!;
      gaps.push(Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : (b - a) | 0);
    }
    return gaps;
  }
}

/**
 * The spacing past a bucket's burst, when the burst holds the median: at least half the
 * spacings heard (`gaps`: between consecutive packets both heard, in order) first are at most
 * BURST_SPACING (packets let through at once), and every one after them is wider (at least two).
 * The first of those is left out when shorter than another (what was left in the bucket shortens
 * it); of the rest, the median (of two, the wider). 0 for any other pattern (a path's jitter or a
 * cellular link's batches scatter short spacings: the median reads those as before). A packet not
 * heard takes out only its own spacings: when it made this give up, the median alone read the
 * spacing the bucket's leftover shortened (six packets at once, then 0.5 ms, then 2.4 ms, the last
 * packet lost: 2500 bytes/ms, four times the rate).
 */
function tailSpacing(gaps: readonly number[]): number {
  let burst = 0;
  while (burst < gaps.length && gaps[burst]! <= BURST_SPACING) burst++;
  const tail = gaps.slice(burst);
  if (burst < gaps.length >> 1 || tail.length < 2 || tail.some((g) => g <= BURST_SPACING)) return 0;
  // The first is left out only if shorter than another: a late dequeue can shorten the others.
  if (tail[0]! < Math.max(...tail.slice(1))) tail.shift();
  return tail.sort((x, y) => x - y)[tail.length >> 1]!;
}

/** The links' trains (sendpath.ts): when each goes, and what its reading sets. */
export class RateTrains {
  private readonly trains = new WeakMap<Link, RateTrain>();
  /** Trains still to send or to be acknowledged: while none, a FEEDBACK costs one comparison here. */
  private pending = 0;

  /** `transmit`: sends one train packet, as large as the largest data packet; its transport counter, -1 if none went. */
  constructor(private readonly transmit: (l: Link) => number) {}

  /**
   * Once per link, while its rate is the guess: the train waits until the peer is known to have
   * the session and each end's first RTT sample is out of its way (a train queued on the path
   * delays what follows it: a first sample behind it took the link for 5-20 ms farther than it is,
   * and the scheduler's start with it). So it goes at the first of:
   * - our first FEEDBACK from the peer (onFeedback): our sample is taken;
   * - our acknowledgement of the peer's keepalive (keepaliveAnswered): the peer's sample is on
   *   its way, ahead of the train.
   * Sent at once behind the initiator's CONFIRM, a train the path reorders ahead of it meets no
   * session at the responder, and reads there as loss.
   * Called for every new session (lifecycle.ts established, after install): a train still
   * unanswered when the counters start again from 0 goes, and a new one measures the link. Its
   * acknowledgements would not come, and the new session's counters would be read as its packets
   * (keepalives a second apart read 1.5 bytes/ms: the link out of startup at the floor).
   */
  measure(l: Link): void {
    const old = this.trains.get(l);
    if (old?.isSent && !old.over && l.sender.nextCounter === 0) (old.abandon(), this.pending--, this.trains.delete(l));
    if (!l.sender.estimator.isGuess || this.trains.has(l)) return;
    this.trains.set(l, new RateTrain());
    this.pending++;
  }

  /** We just acknowledged a keepalive of the peer's on `l`. */
  keepaliveAnswered(l: Link): void {
    if (this.pending === 0) return;
    const train = this.trains.get(l);
    if (train && !train.isSent && !train.over) this.send(l, train);
  }

  /** A FEEDBACK on `l` (sendpath.ts onFeedback): its highest counter's low 32 bits, and the peer's clock when that arrived. */
  onFeedback(l: Link, highestLow32: number, peerClock: number): void {
    if (this.pending === 0) return;
    const train = this.trains.get(l);
    if (!train || train.over) return;
    if (!train.isSent) return this.send(l, train);
    const rate = train.onAck(highestLow32, peerClock);
    if (!train.over) return;
    this.pending--;
    if (rate !== undefined) l.sender.estimator.startFrom(rate);
  }

  private send(l: Link, train: RateTrain): void {
    const first = this.transmit(l);
    if (first < 0) {
      this.pending--;
      return train.abandon();
    }
    for (let k = 1; k < TRAIN_PACKETS; k++) this.transmit(l);
    train.sent(first, l.sender.maxPacket + TUNNEL_OVERHEAD);
  }
}
