/**
 * The delay line's frame queues (delayline.ts), and the bottleneck a trace drains: a FIFO of
 * frames served by the trace's delivery opportunities (trace.ts). Clock-free: every call takes
 * the worker's `now` (performance.now() ms), so a unit test drives the very code the worker runs
 * with a made-up clock (test/unit/bottleneck.test.ts).
 *
 * An opportunity serves only frames that had arrived by its time; each gives 1500 bytes of IP
 * packet (the frame less its 14-byte Ethernet header, as Mahimahi counts), a frame may span
 * opportunities, and bytes an opportunity cannot use (queue empty) are lost.
 */
import { OPPORTUNITY_BYTES, type Trace, TraceCursor } from "./trace.ts";

const ETHERNET_HEADER = 14;
const SLOT_BYTES = 2048; // an MTU-1500 frame is 1514 bytes; larger frames get a larger slot

/** FIFO of frames with their departure times; slots are reused, so the steady state allocates nothing. */
export class FrameQueue {
  private readonly slots: (Uint8Array | undefined)[] = [];
  private readonly lens: Int32Array;
  private readonly departs: Float64Array;
  private readonly cutsAtArrival: Float64Array;
  private head = 0;
  size = 0;
  /** Departure of the newest frame: later frames never leave before it (no reordering). */
  lastDepart = 0;

  constructor(private readonly cap: number) {
    this.lens = new Int32Array(cap);
    this.departs = new Float64Array(cap);
    this.cutsAtArrival = new Float64Array(cap);
  }

  push(frame: Uint8Array, len: number, depart: number, cuts: number): void {
    const i = (this.head + this.size) % this.cap;
    let slot = this.slots[i];
    if (!slot || slot.length < len) slot = this.slots[i] = new Uint8Array(Math.max(SLOT_BYTES, len));
    slot.set(frame.subarray(0, len));
    this.lens[i] = len;
    this.departs[i] = depart;
    this.cutsAtArrival[i] = cuts;
    this.lastDepart = depart;
    this.size++;
  }

  nextDepart(): number {
    return this.size > 0 ? this.departs[this.head]! : Infinity;
  }

  /** Length of the oldest frame. */
  headLength(): number {
    return this.lens[this.head]!;
  }

  /** How many cuts had begun when the oldest frame arrived. */
  headCuts(): number {
    return this.cutsAtArrival[this.head]!;
  }

  /** Removes the oldest frame; the returned view is valid until the next push. */
  shift(): Uint8Array {
    const i = this.head;
    this.head = (this.head + 1) % this.cap;
    this.size--;
    return this.slots[i]!.subarray(0, this.lens[i]);
  }
}

/** The delay line's counters that serving a bottleneck adds to (delayline.ts's DirectionCounters). */
export type ServeCounter = "opportunities" | "usedOpportunities" | "late0_1" | "late0_5" | "late1" | "late2" | "late5" | "lateMore";
const LATE_BUCKETS: [number, ServeCounter][] = [[0.1, "late0_1"], [0.5, "late0_5"], [1, "late1"], [2, "late2"], [5, "late5"], [Infinity, "lateMore"]];

const ipBytes = (frameLen: number) => Math.max(1, frameLen - ETHERNET_HEADER);

/** A direction's trace state in the worker: the cursor over its opportunities and the bottleneck. */
export class TraceBottleneck {
  readonly cursor: TraceCursor;

  /**
   * `queue` holds frames waiting for opportunities, its `departs` their arrival times; a new
   * trace takes over the old one's queue and `headLeft`.
   */
  constructor(
    trace: Trace,
    readonly queue: FrameQueue,
    /** Bytes of the head frame's IP packet not yet delivered (a frame may span opportunities). */
    public headLeft = 0,
  ) {
    this.cursor = new TraceCursor(trace);
  }

  /** A frame arrived at `now` (the caller checked the queue's limit). */
  push(frame: Uint8Array, len: number, now: number, cuts: number): void {
    if (this.queue.size === 0) this.headLeft = ipBytes(len);
    this.queue.push(frame, len, now, cuts);
  }

  /**
   * Serves every opportunity at or before `now`: `deliver` gets each frame that left, with the
   * time of the opportunity that completed it. Afterwards the opportunities counted since the
   * last rewind are exactly the trace's at trace times ≤ cursor.elapsed(now): at or before, so
   * a rewind's own round already counts the opportunities at the trace's 0 ms.
   */
  serve(now: number, deliver: (frame: Uint8Array, at: number, cuts: number) => void, count: (name: ServeCounter, n: number) => void): void {
    const b = this.queue;
    const c = this.cursor;
    while (c.dueBy(now)) {
      if (b.size === 0 || b.nextDepart() > c.at) {
        // Nothing had arrived by this opportunity: it is lost, and so is every one until the head
        // frame's arrival (or until now, with the queue empty: later frames are stamped later).
        count("opportunities", c.skipBefore(b.size === 0 ? now : b.nextDepart()) || (c.advance(), 1));
        continue;
      }
      const t = c.at;
      let budget = OPPORTUNITY_BYTES;
      while (budget > 0 && b.size > 0 && b.nextDepart() <= t) {
        const take = Math.min(budget, this.headLeft);
        budget -= take;
        this.headLeft -= take;
        if (this.headLeft > 0) break;
        const cuts = b.headCuts();
        deliver(b.shift(), t, cuts);
        if (b.size > 0) this.headLeft = ipBytes(b.headLength());
      }
      const late = now - t;
      for (const [limit, name] of LATE_BUCKETS) {
        if (late <= limit) {
          count(name, 1);
          break;
        }
      }
      count("opportunities", 1);
      count("usedOpportunities", 1);
      c.advance();
    }
  }

  /** When the bottleneck next needs the worker: an opportunity with a frame waiting for it (Infinity: none waits). */
  nextEvent(): number {
    return this.queue.size > 0 ? Math.max(this.cursor.at, this.queue.nextDepart()) : Infinity;
  }
}
