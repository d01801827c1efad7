/**
 * How fast one link can carry our packets, learned without configuration (BBR-style, after "BBR:
 * Congestion-Based Congestion Control", Cardwell et al., ACM Queue 2016):
 *
 * - bottleneck bandwidth = the highest delivery rate measured, where a delivery rate sample is
 *   (bytes acknowledged since a packet was sent) ÷ (time since then); it is lowered only when RTTs
 *   show a queue building (below), never just because less was sent;
 * - minimum RTT over the last 10 s (queuesignal.ts MIN_RTT_WINDOW_MS);
 * - pacing rate = gain × bandwidth: 2 while starting (doubling each round until the rate stops
 *   growing; up to 4 while packets wait on a far link: startup.ts startupGain), then a cycle
 *   that probes 25 % higher for one round, drains 25 % lower for one, and
 *   cruises at 1 for six — so a link whose capacity grows (4G) is found out within a few rounds,
 *   and one whose capacity falls is followed as soon as its queue grows;
 * - at most one bandwidth-delay product (bandwidth × min RTT) in flight plus a queue of a quarter
 *   of the min RTT and 5 ms (queueHeadroomMs), so a modem's queue never fills;
 *   while redundant mode's copies use the link, one product + a 5 ms queue (keepQueueShort);
 * - in the cycle, while packets wait for the pacer (backlogged) and the link shows no queue, the
 *   probing gain holds every round: the estimate is then what limits the link, and pacing at it
 *   could only confirm it (docs/scheduler.md, "A low estimate must not hold itself up").
 *
 * Samples taken while we had less to send than the pacing rate allowed ("application limited")
 * can only raise the estimate, never lower it — unless a queue stands on the link: its
 * bottleneck is then busy whatever we offered, and what it delivers is its rate.
 *
 * Two additions for links that share one tunnel:
 * - when a queue builds in our direction (its one-way delay, from the peer's receive clock in the
 *   acknowledgements, 0.25 min RTT + 5 ms above its minimum; the RTT, which the peer's own traffic
 *   on the way back also lengthens, only for a peer that does not send it), the estimate becomes
 *   the best delivery rate of the last BW_WINDOW_ROUNDS rounds: it was too high, and the modem's
 *   queue must not be the one that absorbs it (latency under load);
 * - startup ends only after rounds in which the link had more to send than it took and its delivery
 *   stopped growing: a link not used yet (another link was faster), or still below the initial
 *   guess, stays in startup, ready to double its rate each round as traffic comes.
 *
 * A full bottleneck shows in two ways: a standing queue, judged from delays (queuesignal.ts: a
 * path whose own delay rose for good is tried as such there, delayrise.ts, not taken for a queue
 * for 10 s), and a round that lost clearly more than the link's usual share of its packets
 * (roundloss.ts: a shallow buffer or a policer drops before any queue shows). Either one is
 * `full` below.
 *
 * A queue is judged by delay, and delay also comes from a machine that stops for a while (a busy
 * virtual machine) or from the path's jitter. A bottleneck with a standing queue is busy all the
 * time: what it delivers cannot grow. So the delay signal counts only in rounds whose delivery did
 * not grow (BBR's full-pipe test: startup ends on it only in a round that did not deliver 25 % more
 * than the rounds before; in the cycle it lowers the estimate only when this round and the last
 * delivered no more than the earlier ones): docs/scheduler.md, "Delay noise is not a full pipe".
 */
import { ACK_DELAY_MS } from "./ackstate.ts";
import { QueueSignal, type Sample } from "./queuesignal.ts";
import { RoundLoss } from "./roundloss.ts";

export { QUEUE_RTT_SLACK_MS } from "./queuesignal.ts";
export const STARTUP_GAIN = 2;
const STARTUP_GROWTH = 1.25;
const STARTUP_ROUNDS_WITHOUT_GROWTH = 3;
const CYCLE = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
/**
 * The queue the in-flight cap lets stand beyond one bandwidth-delay product: a share of the RTT
 * for what scales with the product (the estimate's errors, a probe's round at 1.25 ×), and a few
 * ms for what does not (a shaper's bucket let through at line rate, an end's turn on the CPU).
 * Half an RTT before: on a 60 ms path with ±10 ms of jitter its 30 ms stood at the bottleneck
 * whenever the estimate read a little high, a ping beside a transfer behind it (docs/scheduler.md,
 * "A quarter of an RTT of headroom").
 */
const QUEUE_HEADROOM_RTT_SHARE = 0.25;
const QUEUE_HEADROOM_MS = 5;
/** While calls use the link (keepQueueShort), the queue the in-flight cap lets stand beyond one BDP, ms (CoDel's target)... */
const SHORT_QUEUE_MS = 5;
/** ... or this share of the RTT, if more: a probe must still find a long path's growing capacity. */
const SHORT_QUEUE_RTT_SHARE = 0.1;
const ACK_HOLD_MS = ACK_DELAY_MS; // how long the peer may hold an acknowledgement
/**
 * Rounds whose best delivery rate becomes the estimate when a queue says it is too high (BBR's
 * bottleneck-bandwidth filter spans 10 rounds, for the same reason); only rounds that had a
 * delivery sample count (BBR counts rounds by packets delivered, not by time). Not the last round
 * alone: an end descheduled for a while (or a peer that acknowledged late) makes a round that
 * delivered little, with a one-way delay that looks like a queue; taken as the capacity, it
 * halved a 20 Mbit/s estimate or worse, and TCP settled below one link (cpustall.sim.test.ts).
 */
const BW_WINDOW_ROUNDS = 10;
/**
 * While a queue stands, the estimate is at most the best of this many rounds' mean delivery rates
 * (rounds whose every packet was sent with more waiting): a busy bottleneck delivers its rate over
 * a whole round, while short samples catch a shaper's bursts and batched acknowledgements (the
 * highest was 10-60 % above a 20 Mbit/s htb link in the lab). More than one round: a round with
 * an end descheduled for a while is not the link's (docs/scheduler.md, "Short queues for calls").
 */
const QUEUE_ROUNDS = 10;
export const INITIAL_RATE_BYTES_PER_MS = 500; // before any sample: 4 Mbit/s, quickly corrected by the startup phase
export const MIN_RATE_BYTES_PER_MS = 4; // 32 kbit/s: never stop probing a link entirely
export const MIN_INFLIGHT_BYTES = 4 * 1500;

export class RateEstimator {
  private btlBw: number; // bytes per millisecond
  /** Delivery-rate samples of the last round that measured the link (not application-limited, or taken while a queue stood). */
  private readonly recent: Sample[] = [];
  /** Whether a queue stands, from delays; the minimum RTT (queuesignal.ts). */
  private readonly signal = new QueueSignal();
  private startup = true;
  /** No delivery sample has set the estimate yet (nor bandwidth_upload): it is INITIAL_RATE_BYTES_PER_MS, a guess. */
  isGuess: boolean;
  private shortQueueUntilMs = Number.NEGATIVE_INFINITY; // keepQueueShort; `shortQueue`: as of the last onTick
  private shortQueue = false;
  private startupBest = 0;
  private startupGain = STARTUP_GAIN;
  private roundsWithoutGrowth = 0;
  private cycleIndex = 0;
  private roundStartMs = 0;
  /** Packets delivered and lost per round: a round that lost too many says the bottleneck is full (roundloss.ts). */
  readonly loss = new RoundLoss();
  private backloggedRounds = 0;
  private backloggedThisRound = false;
  private cap: number; // upper bound from bandwidth_upload, bytes per millisecond (Infinity when unset)
  /** Best link-limited delivery rate (as `recent`) of each of the last BW_WINDOW_ROUNDS rounds (a ring; 0: none). */
  private readonly roundBest = new Float64Array(BW_WINDOW_ROUNDS);
  private roundSlot = 0;
  /**
   * Best delivery rate of any kind (application-limited too) of each of the last
   * BW_WINDOW_ROUNDS rounds that had a sample (a ring; 0: none): whether delivery still grows.
   */
  private readonly delivered = new Float64Array(BW_WINDOW_ROUNDS);
  private deliveredSlot = 0;
  /** A sample taken once the round was over (by the acknowledgement whose tick ends it): the next round's. */
  private deliveredNext = 0;
  private deliveredBytes = 0; // acknowledged in all (onDelivered)
  private roundStartDelivered = 0;
  /** Bytes acknowledged per ms over each of the last QUEUE_ROUNDS whole rounds (a ring; 0: none). */
  private readonly roundMean = new Float64Array(QUEUE_ROUNDS);
  private roundMeanSlot = 0;
  private appLimitedThisRound = false; // a packet sent while nothing waited: the round delivered what it was given

  constructor(bandwidthUploadBytesPerSec: number, nowMs: number) {
    this.cap = bandwidthUploadBytesPerSec > 0 ? bandwidthUploadBytesPerSec / 1000 : Number.POSITIVE_INFINITY;
    this.btlBw = bandwidthUploadBytesPerSec > 0 ? this.cap : INITIAL_RATE_BYTES_PER_MS;
    this.isGuess = !(bandwidthUploadBytesPerSec > 0);
    this.roundStartMs = nowMs;
  }

  /** A reloaded bandwidth_upload: a new bound now; the estimate itself is kept below it. */
  setUploadLimit(bytesPerSec: number): void {
    this.cap = bytesPerSec > 0 ? bytesPerSec / 1000 : Number.POSITIVE_INFINITY;
    this.btlBw = Math.min(this.btlBw, this.cap);
  }

  /** Startup's gain while packets wait for the pacer: at least STARTUP_GAIN (startup.ts startupGain). */
  setStartupGain(gain: number): void { this.startupGain = gain > STARTUP_GAIN ? gain : STARTUP_GAIN; }
  get bandwidth(): number { return this.btlBw; } // estimated bottleneck bandwidth, bytes per millisecond
  get inStartup(): boolean { return this.startup; }
  get minRttMs(): number { return this.signal.minRttMs; }

  /**
   * The link-up train's reading (train.ts), bytes per ms, in place of the guess, and no startup: the
   * cycle paces 25 % above it in each round that leaves packets waiting without a queue (gain), so a
   * low reading grows a quarter a round; startup, doubling from near the link's rate, sent twice it.
   */
  startFrom(rate: number): void {
    if (!this.isGuess || !Number.isFinite(rate) || !(rate > 0)) return;
    this.setBandwidth(rate);
    this.endStartup();
  }

  private get gain(): number {
    if (this.startup) return this.backloggedThisRound || this.backloggedRounds > 0 ? this.startupGain : STARTUP_GAIN;
    // More waits than the pacer lets out, and no queue on the link: the estimate, not the link,
    // is the bottleneck. Keep probing until the link shows a queue (docs/scheduler.md, "A low
    // estimate must not hold itself up").
    if ((this.backloggedThisRound || this.backloggedRounds > 0) && !this.full) return Math.max(CYCLE[0]!, CYCLE[this.cycleIndex]!);
    return CYCLE[this.cycleIndex]!;
  }

  /** Rate to pace this link at, bytes per millisecond. */
  pacingRate(): number {
    return Math.min(this.cap, Math.max(MIN_RATE_BYTES_PER_MS, this.gain * this.btlBw));
  }

  /**
   * Bytes allowed in flight: one bandwidth-delay product, the queue headroom, and what is sent
   * while acknowledgements are held back (every few packets or ACK_HOLD_MS) — on a path of
   * sub-millisecond RTT that part dominates, and without it the link could never be filled.
   */
  inflightCap(): number {
    const rtt = this.signal.pipeRttMs();
    // Startup paces at its gain: that many products must fit, each with its headroom, or with
    // one short queue on top while calls use the link.
    const products = this.startup ? this.gain : 1;
    const pipeMs = this.shortQueue ? products * rtt + this.queueHeadroomMs(rtt) : products * (rtt + this.queueHeadroomMs(rtt));
    // Acknowledgements delayed by a queue on the way back (the peer's download) hold that much
    // more in flight without any queue on our side; at most the queue a peer keeping these rules
    // lets stand there (standingQueueMs, the peer's traffic and its express lane alike): counting
    // more would let each end's queue open the other's cap in turn (both directions of a busy
    // link, a failover).
    const returnMs = this.shortQueue ? 0 : Math.min(this.signal.returnQueueMs, this.standingQueueMs());
    return Math.max(MIN_INFLIGHT_BYTES, this.capRate() * (pipeMs + this.ackHoldMs() + returnMs));
  }

  /**
   * The rate the in-flight cap is sized by. While calls use the link, no more than the best whole
   * round delivered lately: the estimate comes from the highest short delivery samples, which a
   * shaper's bucket (tokens saved in a pause let through at line rate) and batched acknowledgements
   * lift 10 % or more above the link's rate, and a cap sized by it let that much more stand at the
   * bottleneck than the short queue allows — 14-20 ms on a 20 Mbit/s, 60 ms link where 10 was meant,
   * the call's copies behind it (bench scenario 14). A whole round of a busy link delivers its rate.
   * Not in startup, whose rounds deliver a fraction of the link by design (each sends twice the last).
   */
  private capRate(): number {
    return this.shortQueue && !this.startup ? Math.min(this.btlBw, this.queuedRoundsRate()) : this.btlBw;
  }

  /** Acknowledgements come every ACK_HOLD_MS at most: twice that in flight covers their batching with room to spare, once when the queue must stay short. */
  private ackHoldMs(): number { return (this.shortQueue ? 1 : 2) * ACK_HOLD_MS; }

  /**
   * The queue (ms at the estimate) our traffic may stand at the link's bottleneck by these rules:
   * the cap's headroom beyond one bandwidth-delay product and the acknowledgements' batching. The
   * express lane keeps to it where it can (express.ts), and the peer's cap counts up to it of a
   * queue on its way back, which is ours: an ADSL-like uplink that carried a download's TCP
   * acknowledgements 20 ms deep held our FEEDBACKs there, and the peer's cap, sized for 1 ms of
   * it, kept that link's download at three quarters of its rate (docs/scheduler.md, "Asymmetric
   * links").
   */
  standingQueueMs(): number {
    return this.queueHeadroomMs(this.signal.pipeRttMs()) + this.ackHoldMs();
  }

  /**
   * How much queue (ms at the estimate) the cap lets stand on the link beyond one bandwidth-delay
   * product: a share of the RTT and a few ms (QUEUE_HEADROOM_*); while calls use the link
   * (keepQueueShort), SHORT_QUEUE_MS, or a tenth of the RTT on a long path.
   */
  private queueHeadroomMs(rtt: number): number {
    const headroom = QUEUE_HEADROOM_RTT_SHARE * rtt + QUEUE_HEADROOM_MS;
    return this.shortQueue ? Math.min(headroom, Math.max(SHORT_QUEUE_MS, SHORT_QUEUE_RTT_SHARE * rtt)) : headroom;
  }

  /**
   * Latency-sensitive packets (redundant mode's copies) go on this link until `untilMs`: hold its
   * standing queue to SHORT_QUEUE_MS meanwhile. Such a packet skips our pacing queue but not the
   * link's bottleneck, where it waits behind all the bulk traffic in flight. The price: on a path
   * whose delay varies without a queue (jitter), the cap no longer covers the variation, and bulk
   * traffic gets less of the link while the calls last (docs/scheduler.md, "Short queues for calls").
   */
  keepQueueShort(untilMs: number): void {
    this.shortQueueUntilMs = Math.max(this.shortQueueUntilMs, untilMs);
  }

  /** An RTT sample of a packet: a queue's signal (queuesignal.ts). */
  onRttSample(rttMs: number, nowMs: number): void { this.signal.onRttSample(rttMs, nowMs); }

  /** The peer restarted: its clock is another one, earlier one-way delays mean nothing. */
  resetOneWayDelay(): void { this.signal.resetOneWayDelay(); }

  /**
   * The one-way delay of a packet (plus an unknown constant): the queue in our direction, past
   * what the in-flight cap lets stand at the minimum RTT (queuesignal.ts).
   */
  onOneWayDelaySample(owdMs: number, nowMs: number): void {
    this.signal.onOneWayDelaySample(owdMs, nowMs, this.queueHeadroomMs(Number.isFinite(this.minRttMs) ? this.minRttMs : 0));
  }

  /** A delivery-rate sample in bytes per millisecond. */
  onRateSample(rate: number, appLimited: boolean, nowMs: number): void {
    if (!(rate > 0) || !Number.isFinite(rate)) return;
    this.appLimitedThisRound ||= appLimited;
    this.signal.delayRise.sample(rate, appLimited);
    // While a queue stands on the link, its bottleneck is busy whatever we had to send: what it
    // delivered is its rate, not a sign that we sent less (docs/scheduler.md, "A queue with little to send").
    const linkLimited = !appLimited || this.signal.queueing;
    if (nowMs - this.roundStartMs >= this.roundMs()) this.deliveredNext = Math.max(this.deliveredNext, rate);
    else if (rate > this.delivered[this.deliveredSlot]!) this.delivered[this.deliveredSlot] = rate;
    if (linkLimited) {
      if (rate > this.roundBest[this.roundSlot]!) this.roundBest[this.roundSlot] = rate;
      this.recent.push({ atMs: nowMs, rate });
      while (this.recent.length > 0 && nowMs - this.recent[0]!.atMs > this.roundMs()) this.recent.shift();
    }
    // More got through than we thought: raise at once (application-limited or not) — unless a
    // queue stands: we already send more than the link takes, and the sample is a burst's.
    if (rate > this.btlBw && (this.startup || !this.full)) return this.setBandwidth(rate);
    // Lower only on evidence that the estimate is too high: a queue builds on the link. A lower
    // rate without a queue only means we sent less (the link was not given more traffic). And
    // not while delivery still grows: a link whose bottleneck has a standing queue is busy all
    // the time and cannot deliver more than it did, so a delay seen meanwhile is not its queue
    // (a machine that stopped for a while, the path's jitter) and must not take a probe's
    // result back (docs/scheduler.md, "Delay noise is not a full pipe").
    if (this.full && !this.startup && !this.deliveryGrows(1, 2)) this.setBandwidth(Math.min(this.windowMax(), this.queuedRoundsRate()));
  }

  /** Bytes acknowledged on the link (all of them, application-limited or not). */
  onDelivered(bytes: number): void {
    this.deliveredBytes += bytes;
    this.loss.delivered++;
  }

  /** The link is full: a queue shows, or the last round lost what only a full bottleneck loses (roundloss.ts). */
  get full(): boolean { return this.signal.queueing || this.loss.full; }

  /** The best mean delivery rate of the last QUEUE_ROUNDS rounds (Infinity before any). */
  private queuedRoundsRate(): number {
    let max = 0;
    for (const r of this.roundMean) max = Math.max(max, r);
    return max > 0 ? max : Number.POSITIVE_INFINITY;
  }

  /** One round: the min RTT, at least 10 ms (100 ms before any sample). */
  roundMs(): number { return this.signal.roundMs(); }

  /** The best delivery rate of the last BW_WINDOW_ROUNDS rounds (what the link carried lately). */
  private windowMax(): number {
    let max = 0;
    for (const r of this.roundBest) max = Math.max(max, r);
    return max > 0 ? max : this.btlBw;
  }

  /**
   * Whether the best delivery of the last `span` rounds (this one included) is above the best
   * of the rounds before them, by `factor` at least.
   */
  private deliveryGrows(factor: number, span: number): boolean {
    let prev = 0;
    let cur = 0;
    for (let k = 0; k < BW_WINDOW_ROUNDS; k++) {
      const v = this.delivered[(this.deliveredSlot - k + BW_WINDOW_ROUNDS) % BW_WINDOW_ROUNDS]!;
      if (k < span) cur = Math.max(cur, v);
      else prev = Math.max(prev, v);
    }
    return cur > 0 && cur >= factor * prev && cur > prev;
  }

  private setBandwidth(rate: number): void {
    this.isGuess = false;
    this.btlBw = Math.min(this.cap, Math.max(MIN_RATE_BYTES_PER_MS, rate));
  }

  /** Advances the gain cycle; call often (e.g. on every acknowledgement). `backlogged`: the link has packets waiting; `inflightBytes`: ours in flight on it. */
  onTick(nowMs: number, backlogged = false, inflightBytes = 0): void {
    if (backlogged) this.backloggedThisRound = true;
    this.loss.inFlight(inflightBytes);
    this.shortQueue = nowMs < this.shortQueueUntilMs;
    if (nowMs - this.roundStartMs < this.roundMs()) return;
    const roundDelivered = this.deliveredBytes - this.roundStartDelivered;
    if (roundDelivered > 0 && !this.appLimitedThisRound) {
      this.roundMeanSlot = (this.roundMeanSlot + 1) % QUEUE_ROUNDS;
      this.roundMean[this.roundMeanSlot] = roundDelivered / (nowMs - this.roundStartMs);
    }
    this.roundStartDelivered = this.deliveredBytes;
    this.loss.endRound(nowMs);
    this.appLimitedThisRound = false;
    this.roundStartMs = nowMs;
    // A round without a delivery sample that counts (the link idle, or only application-limited
    // traffic, or an end descheduled) is no evidence: the window spans rounds that had one.
    if (this.roundBest[this.roundSlot]! > 0) {
      this.roundSlot = (this.roundSlot + 1) % BW_WINDOW_ROUNDS;
      this.roundBest[this.roundSlot] = 0;
    }
    // BBR's full-pipe test, on this round alone: at twice the estimate, a link that is not full
    // delivers up to twice as much each round; 25 % more says it still had room.
    const grew = this.deliveryGrows(STARTUP_GROWTH, 1);
    if (this.delivered[this.deliveredSlot]! > 0) {
      this.deliveredSlot = (this.deliveredSlot + 1) % BW_WINDOW_ROUNDS;
      this.delivered[this.deliveredSlot] = 0;
    }
    this.delivered[this.deliveredSlot] = Math.max(this.delivered[this.deliveredSlot]!, this.deliveredNext);
    this.deliveredNext = 0;
    this.backloggedRounds = this.backloggedThisRound ? this.backloggedRounds + 1 : 0;
    this.backloggedThisRound = false;
    if (this.startup) {
      // A queue builds in a round whose delivery did not grow: the capacity is reached (or was
      // overshot). Only then: a delay in a round that delivered 25 % more is not a full link's
      // queue (its bottleneck was not busy all the time), it is noise (a machine that stopped
      // for a while, jitter), and it ended startup at a fraction of the link. The estimate stays
      // what the link was seen to deliver (BBR keeps its filter too); if it is too high, the
      // queue lowers it in the cycle, once delivery stops growing.
      if (this.full && this.recent.length > 0 && !grew) return this.endStartup();
      // Growth: the estimate's, or the delivery's below an estimate it cannot raise (the guess).
      if (this.btlBw >= this.startupBest * STARTUP_GROWTH || grew) {
        this.startupBest = Math.max(this.startupBest, this.btlBw);
        this.roundsWithoutGrowth = 0;
      } else if (this.backloggedRounds > 0 && ++this.roundsWithoutGrowth >= STARTUP_ROUNDS_WITHOUT_GROWTH) {
        // Only rounds in which we had more to send than the link took say it is full: an idle
        // link stays in startup, ready to grow as soon as it is given traffic.
        this.endStartup();
      }
      return;
    }
    const tried = this.signal.tryRise(this.btlBw, inflightBytes <= 2 * this.inflightCap(), nowMs);
    if (tried > 0) this.setBandwidth(tried); // a step of a delay rise's try (delayrise.ts)
    this.cycleIndex = (this.cycleIndex + 1) % CYCLE.length;
  }

  /**
   * The cycle from its cruising phases. Startup's round means go, a fraction of the link by design
   * (each round sends twice the last): kept, they capped the estimate when a queue first showed (a
   * 100 Mbit/s link behind a token bucket fell to 22 Mbit/s: docs/scheduler.md, "Stale round means").
   */
  private endStartup(): void {
    this.startup = false;
    this.cycleIndex = 2;
    this.roundMean.fill(0);
  }
}
