import { describe, expect, test } from "bun:test";
import { ReorderBuffer } from "../../src/core/reorder.ts";
import { xorshift } from "../helpers/random.ts";


/** A packet whose bytes carry its sequence, so the delivered order can be read back. */
function packetFor(seq: number): Uint8Array {
  return new Uint8Array(new Float64Array([seq]).buffer);
}

function seqOf(packet: Uint8Array): number {
  return new Float64Array(packet.buffer, packet.byteOffset, 1)[0] ?? Number.NaN;
}

/** A buffer recording what it delivers. */
function recording(capacity: number): { buffer: ReorderBuffer; delivered: number[] } {
  const delivered: number[] = [];
  const buffer = new ReorderBuffer(capacity, (p) => delivered.push(seqOf(p)));
  return { buffer, delivered };
}

function insertAll(buffer: ReorderBuffer, seqs: readonly number[], nowMs = 0): void {
  for (const seq of seqs) buffer.insert(seq, packetFor(seq), nowMs);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("construction and validation", () => {
  test("capacity must be an integer from 1 to 65536", () => {
    for (const bad of [0, -1, 65537, 1.5, Number.NaN]) expect(() => new ReorderBuffer(bad, () => {})).toThrow(RangeError);
    expect(new ReorderBuffer(1, () => {}).capacity).toBe(1);
    expect(new ReorderBuffer(65536, () => {}).capacity).toBe(65536);
  });

  test("sequences must be non-negative safe integers", () => {
    const { buffer } = recording(8);
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) expect(() => buffer.insert(bad, packetFor(0), 0)).toThrow(RangeError);
    expect(buffer.stats.delivered).toBe(0);
  });

  test("starts empty with the default hold time", () => {
    const { buffer } = recording(8);
    expect(buffer.holdMs).toBe(100);
    expect(buffer.nextDeadline()).toBe(Infinity);
    expect(buffer.stats).toEqual({ delivered: 0, reordered: 0, duplicates: 0, late: 0, stale: 0, holesSkipped: 0, flushes: 0, held: 0 });
  });
});

describe("in-order delivery", () => {
  test("passes packets straight through, by reference", () => {
    const seen: Uint8Array[] = [];
    const buffer = new ReorderBuffer(16, (p) => seen.push(p));
    const packets = range(0, 1000).map(packetFor);
    packets.forEach((p, seq) => buffer.insert(seq, p, seq));
    expect(seen.length).toBe(1000);
    seen.forEach((p, i) => expect(p).toBe(packets[i]!));
    expect(buffer.stats).toMatchObject({ delivered: 1000, reordered: 0, held: 0 });
    expect(buffer.nextExpected).toBe(1000);
    expect(buffer.nextDeadline()).toBe(Infinity);
  });

  test("the first packet sets the expected sequence", () => {
    const { buffer, delivered } = recording(16);
    insertAll(buffer, [5000, 5001]);
    expect(delivered).toEqual([5000, 5001]);
    expect(buffer.nextExpected).toBe(5002);
  });
});

describe("reordering", () => {
  test("a simple swap is held then released in order", () => {
    const { buffer, delivered } = recording(16);
    insertAll(buffer, [0, 2]);
    expect(delivered).toEqual([0]);
    expect(buffer.stats.held).toBe(1);
    insertAll(buffer, [1]);
    expect(delivered).toEqual([0, 1, 2]);
    expect(buffer.stats).toMatchObject({ delivered: 3, reordered: 1, held: 0 });
  });

  test("a hole is given up exactly at its deadline", () => {
    const { buffer, delivered } = recording(16);
    buffer.holdMs = 50;
    buffer.insert(0, packetFor(0), 0);
    buffer.insert(2, packetFor(2), 10);
    buffer.insert(3, packetFor(3), 20);
    expect(buffer.nextDeadline()).toBe(60); // from the oldest held packet, not the newest
    buffer.handleTimeout(59.9);
    expect(delivered).toEqual([0]);
    buffer.handleTimeout(60);
    expect(delivered).toEqual([0, 2, 3]);
    expect(buffer.stats).toMatchObject({ holesSkipped: 1, held: 0 });
    expect(buffer.nextDeadline()).toBe(Infinity);
    buffer.insert(1, packetFor(1), 70);
    expect(buffer.stats.late).toBe(1);
    expect(delivered).toEqual([0, 2, 3, 1]); // late, but delivered: reordering beats loss
  });

  test("the deadline follows holdMs when the caller changes it", () => {
    const { buffer } = recording(16);
    insertAll(buffer, [0]);
    buffer.insert(2, packetFor(2), 1000);
    buffer.holdMs = 250;
    expect(buffer.nextDeadline()).toBe(1250);
  });

  test("a timeout releases only up to the next hole that is still within its time", () => {
    const { buffer, delivered } = recording(16);
    buffer.insert(0, packetFor(0), 0);
    buffer.insert(2, packetFor(2), 0); // hole 1
    buffer.insert(5, packetFor(5), 40); // holes 3, 4
    buffer.handleTimeout(100);
    expect(delivered).toEqual([0, 2]);
    expect(buffer.nextDeadline()).toBe(140);
    buffer.handleTimeout(139);
    expect(delivered).toEqual([0, 2]);
    buffer.handleTimeout(140);
    expect(delivered).toEqual([0, 2, 5]);
    expect(buffer.stats.holesSkipped).toBe(3);
  });

  test("holes before an old packet have waited as long as it has, even if filled by a newer one", () => {
    const { buffer, delivered } = recording(16);
    buffer.insert(0, packetFor(0), 0);
    buffer.insert(5, packetFor(5), 0); // holes 1..4 known since t = 0
    buffer.insert(3, packetFor(3), 80);
    expect(buffer.nextDeadline()).toBe(100);
    buffer.handleTimeout(100);
    expect(delivered).toEqual([0, 3, 5]);
    expect(buffer.stats.holesSkipped).toBe(3);
  });

  test("the deadline stays the oldest held packet's after many swaps nobody asked the deadline for", () => {
    // Released packets stay queued until the next hold or deadline query; every alignment of
    // that queue against its ring is tried.
    for (let swaps = 0; swaps < 40; swaps++) {
      const { buffer, delivered } = recording(4);
      buffer.insert(0, packetFor(0), 0);
      let seq = 1;
      for (let i = 0; i < swaps; i++, seq += 2) insertAll(buffer, [seq + 1, seq]);
      buffer.insert(seq + 1, packetFor(seq + 1), 1000);
      buffer.insert(seq + 2, packetFor(seq + 2), 2000);
      expect({ swaps, deadline: buffer.nextDeadline() }).toEqual({ swaps, deadline: 1100 });
      buffer.handleTimeout(1100);
      expect(delivered.slice(-2)).toEqual([seq + 1, seq + 2]);
    }
  });

  test("handleTimeout is a harmless no-op when early or when nothing is held", () => {
    const { buffer, delivered } = recording(16);
    buffer.handleTimeout(1e9);
    insertAll(buffer, [0, 2]);
    buffer.handleTimeout(99);
    expect(delivered).toEqual([0]);
    expect(buffer.stats.held).toBe(1);
  });
});

describe("capacity", () => {
  test("a packet too far ahead skips the oldest holes until it fits", () => {
    const { buffer, delivered } = recording(4);
    insertAll(buffer, [0, 2, 3, 4, 5]); // hole 1; 2..5 fill the 4 positions past it
    expect(buffer.stats.held).toBe(4);
    insertAll(buffer, [7]);
    expect(delivered).toEqual([0, 2, 3, 4, 5]);
    expect(buffer.stats).toMatchObject({ holesSkipped: 1, held: 1 });
    insertAll(buffer, [6]);
    expect(delivered).toEqual([0, 2, 3, 4, 5, 6, 7]);
  });

  test("a huge jump past an empty buffer costs nothing per skipped sequence", () => {
    const { buffer, delivered } = recording(4);
    insertAll(buffer, [0, 1_000_000_000_000]);
    expect(delivered).toEqual([0]);
    // Held: the 4 sequences just before it may still be on their way over a slower link.
    expect(buffer.nextExpected).toBe(1_000_000_000_000 - 4);
    expect(buffer.stats).toMatchObject({ holesSkipped: 1_000_000_000_000 - 5, held: 1 });
    buffer.flush();
    expect(delivered).toEqual([0, 1_000_000_000_000]);
  });

  for (const capacity of [1, 3, 100]) {
    test(`capacity ${capacity} (not a power of two) holds exactly ${capacity} packets`, () => {
      const { buffer, delivered } = recording(capacity);
      insertAll(buffer, [0, ...range(2, 2 + capacity)]);
      expect(buffer.stats.held).toBe(capacity);
      expect(delivered).toEqual([0]);
      insertAll(buffer, [2 + capacity]);
      expect(delivered).toEqual([0, ...range(2, 3 + capacity)]);
      expect(buffer.stats).toMatchObject({ held: 0, holesSkipped: 1 });
    });
  }
});

describe("duplicates and late packets", () => {
  test("a duplicate of a held packet is dropped and delivered once", () => {
    const { buffer, delivered } = recording(8);
    insertAll(buffer, [0, 2, 2, 1]);
    expect(delivered).toEqual([0, 1, 2]);
    expect(buffer.stats).toMatchObject({ duplicates: 1, late: 0 });
  });

  test("a copy of a delivered packet is a duplicate; a packet whose hole was skipped is delivered late, once", () => {
    const { buffer, delivered } = recording(8);
    buffer.insert(0, packetFor(0), 0);
    buffer.insert(2, packetFor(2), 0);
    buffer.handleTimeout(100); // gives up 1
    insertAll(buffer, [0, 2, 1, 1]);
    expect(delivered).toEqual([0, 2, 1]);
    expect(buffer.stats).toMatchObject({ duplicates: 3, late: 1, stale: 0 });
  });

  test("a copy arriving long after delivery is still dropped, counted as stale once forgotten", () => {
    const { buffer, delivered } = recording(8);
    insertAll(buffer, range(0, 10_000));
    insertAll(buffer, [9995, 3]);
    expect(delivered).toEqual(range(0, 10_000));
    expect(buffer.stats).toMatchObject({ duplicates: 1, late: 0, stale: 1 });
  });

  test("stragglers of a jump past an empty buffer are delivered late", () => {
    const { buffer, delivered } = recording(4);
    insertAll(buffer, [0, 1, 100]); // far ahead: 2..95 skipped at once, 100 held behind 96..99
    buffer.flush();
    insertAll(buffer, [50, 97]);
    expect(delivered).toEqual([0, 1, 100, 50, 97]);
    expect(buffer.stats).toMatchObject({ late: 2, stale: 0 });
  });
});

describe("flush and reset", () => {
  test("flush delivers everything held in sequence order and skips the holes", () => {
    const { buffer, delivered } = recording(16);
    insertAll(buffer, [0, 5, 3, 9, 7]);
    buffer.flush();
    expect(delivered).toEqual([0, 3, 5, 7, 9]);
    expect(buffer.stats).toMatchObject({ holesSkipped: 5, flushes: 1, held: 0 });
    expect(buffer.nextExpected).toBe(10);
    buffer.flush(); // nothing held: not counted
    expect(buffer.stats.flushes).toBe(1);
    insertAll(buffer, [8, 10]);
    expect(delivered).toEqual([0, 3, 5, 7, 9, 8, 10]);
    expect(buffer.stats.late).toBe(1);
  });

  test("after a peer restart, reset() resynchronises on sequence 0", () => {
    const { buffer, delivered } = recording(16);
    insertAll(buffer, [...range(0, 10), 12]);
    // Without a reset the restarted peer's packets look like copies of old ones.
    insertAll(buffer, [0]);
    expect(buffer.stats.duplicates).toBe(1);

    buffer.reset();
    expect(buffer.stats.held).toBe(0);
    expect(buffer.nextDeadline()).toBe(Infinity);
    insertAll(buffer, [0, 2, 1, 3]);
    expect(delivered).toEqual([...range(0, 10), 0, 1, 2, 3]); // 12 was forgotten, not delivered
    expect(buffer.nextExpected).toBe(4);
    expect(buffer.stats).toMatchObject({ delivered: 14, late: 0, duplicates: 1, held: 0 });
  });

  test("reset() forgets held packets of the old stream even if the new one reuses their sequences", () => {
    const { buffer, delivered } = recording(16);
    insertAll(buffer, [100, 102, 103]);
    buffer.reset();
    insertAll(buffer, [101, 102, 103]);
    expect(delivered).toEqual([100, 101, 102, 103]);
    expect(buffer.stats.duplicates).toBe(0);
  });
});

describe("large sequence numbers", () => {
  for (const base of [2 ** 32 - 5, 2 ** 53 - 40]) {
    test(`reorders correctly around ${base}`, () => {
      const { buffer, delivered } = recording(7);
      const order = [0, 3, 1, 2, 6, 5, 4, 7, 9, 8].map((i) => base + i);
      insertAll(buffer, order);
      expect(delivered).toEqual(range(0, 10).map((i) => base + i));
      insertAll(buffer, [base + 4]);
      expect(buffer.stats.duplicates).toBe(1);
    });
  }
});

describe("randomised properties", () => {
  interface Trial {
    buffer: ReorderBuffer;
    delivered: number[];
    inserted: number;
    insertedSet: Set<number>;
  }

  /** Feeds `seqs` in order; checks after every step what must always hold. */
  function run(capacity: number, seqs: readonly number[], random: () => number, useTimeouts: boolean, adaptive = false): Trial {
    const delivered: number[] = [];
    const seen = new Set<number>();
    let highest = -1;
    let outOfOrder = 0;
    const buffer = new ReorderBuffer(capacity, (p) => {
      const seq = seqOf(p);
      if (seen.has(seq)) throw new Error(`delivered ${seq} twice`);
      seen.add(seq);
      // Only late packets (their hole was given up) may come after a higher sequence.
      if (seq < highest) outOfOrder++;
      highest = Math.max(highest, seq);
      delivered.push(seq);
    }, adaptive);
    buffer.holdMs = 30;
    const insertedSet = new Set<number>();
    let now = 0;
    let inserted = 0;
    for (const seq of seqs) {
      now += random() * 3;
      if (useTimeouts && buffer.nextDeadline() <= now) {
        buffer.handleTimeout(now);
        expect(buffer.nextDeadline()).toBeGreaterThan(now);
      }
      buffer.insert(seq, packetFor(seq), now);
      inserted++;
      insertedSet.add(seq);
      const stats = buffer.stats;
      // Adaptive: what arrives within a hold time, never beyond the ring's memory.
      expect(stats.held).toBeLessThanOrEqual(adaptive ? buffer.currentSpan : capacity);
      expect(buffer.currentSpan).toBeLessThanOrEqual(buffer.maxSpan);
      // Every insert ends up delivered (in order or late), held, or dropped as a duplicate or stale.
      expect(stats.delivered + stats.held + stats.duplicates + stats.late + stats.stale).toBe(inserted);
      // Every sequence from the first one up to nextExpected was delivered or skipped, once.
      expect(stats.delivered + stats.holesSkipped).toBe(buffer.nextExpected - (seqs[0] ?? 0));
    }
    for (const seq of delivered) expect(insertedSet.has(seq)).toBe(true);
    // A late packet is out of order unless everything after its hole was skipped too.
    expect(outOfOrder).toBeLessThanOrEqual(buffer.stats.late);
    return { buffer, delivered, inserted, insertedSet };
  }

  /** 0..n-1, each displaced by less than `jitter` positions. */
  function jittered(n: number, jitter: number, random: () => number): number[] {
    return range(0, n)
      .map((seq) => ({ seq, key: seq + random() * jitter }))
      .sort((a, b) => a.key - b.key)
      .map((e) => e.seq);
  }

  for (const seed of [1, 2, 3, 0xc0ffee, 0xfeedbeef]) {
    for (const capacity of [1, 3, 7, 64, 100]) {
      test(`nothing dropped: everything delivered once and in order (seed ${seed}, capacity ${capacity})`, () => {
        const random = xorshift(seed * 131 + capacity);
        const n = 3000;
        // Displacement below the capacity never overflows it; copies are sprinkled in later.
        // Sequence 0 goes first: the first packet sets where delivery starts.
        const seqs = [0, ...jittered(n, capacity, random).filter((seq) => seq !== 0)];
        let copies = 0;
        for (let i = 0; i < n / 10; i++) {
          const at = Math.floor(random() * seqs.length);
          seqs.splice(at + 1, 0, seqs[Math.floor(random() * (at + 1))]!);
          copies++;
        }
        const { buffer, delivered } = run(capacity, seqs, random, false);
        buffer.flush();
        expect(delivered).toEqual(range(0, n));
        expect(buffer.stats).toMatchObject({ holesSkipped: 0, held: 0, delivered: n });
        expect(buffer.stats.late).toBe(0);
        expect(buffer.stats.duplicates + buffer.stats.stale).toBe(copies);
      });

      for (const adaptive of [false, true])
      test(`drops, copies, wide displacement and timeouts: at most once, in order (seed ${seed}, capacity ${capacity}${adaptive ? ", adaptive span" : ""})`, () => {
        const random = xorshift(seed * 7919 + capacity);
        const n = 3000;
        const seqs = jittered(n, capacity * 3 + 5, random).filter(() => random() > 0.05);
        for (let i = 0; i < n / 20; i++) {
          const at = Math.floor(random() * seqs.length);
          seqs.splice(at, 0, seqs[Math.max(0, at - Math.floor(random() * 50))]!);
        }
        const { buffer, delivered, insertedSet } = run(capacity, seqs, random, true, adaptive);
        buffer.flush();
        expect(buffer.stats.held).toBe(0);
        expect(buffer.nextDeadline()).toBe(Infinity);
        // Whatever was not delivered was lost on the way or dropped as late/duplicate.
        expect(new Set(delivered).size).toBe(delivered.length);
        expect(delivered.length).toBeLessThanOrEqual(insertedSet.size);
        expect(buffer.stats.delivered + buffer.stats.late).toBe(delivered.length);
      });
    }
  }
});

describe("adaptive span (links of unequal delay)", () => {
  /**
   * Two links: every 4th packet goes on a link 30 ms later than the other's; 10 packets per ms
   * arrive (about 120 Mbit/s of full packets). A fixed 64 gives each late packet's hole up after
   * 6.4 ms of arrivals; the adaptive span holds what arrives within the hold time, so every
   * packet is delivered in order.
   */
  function spreadRun(adaptive: boolean): { delivered: number[]; late: number; skipped: number; span: number; maxSpan: number } {
    const delivered: number[] = [];
    const buffer = new ReorderBuffer(64, (p) => delivered.push(seqOf(p)), adaptive);
    buffer.holdMs = 50; // spread 30 ms + jitter and a resend's time (policy.ts reorderHoldMs)
    const arrivals: { at: number; seq: number }[] = [];
    for (let seq = 0; seq < 20_000; seq++) arrivals.push({ at: seq / 10 + (seq % 4 === 3 ? 30 : 0), seq });
    arrivals.sort((a, b) => a.at - b.at || a.seq - b.seq);
    for (const a of arrivals) {
      if (buffer.nextDeadline() <= a.at) buffer.handleTimeout(a.at);
      buffer.insert(a.seq, packetFor(a.seq), a.at);
    }
    buffer.flush();
    return { delivered, late: buffer.stats.late, skipped: buffer.stats.holesSkipped, span: buffer.currentSpan, maxSpan: buffer.maxSpan };
  }

  test("a fixed 64 gives the later link's holes up: its packets come late, out of order", () => {
    const fixed = spreadRun(false);
    expect(fixed.late).toBeGreaterThan(1000);
    expect(fixed.span).toBe(64);
  });

  test("the span grows to what arrives within a hold time: everything in order after the first window", () => {
    const r = spreadRun(true);
    // The first hold time runs at the configured 64 (no rate measured yet).
    expect(r.late).toBeLessThan(200);
    const firstInOrder = r.delivered.slice(1000);
    for (let i = 1; i < firstInOrder.length; i++) expect(firstInOrder[i]!).toBe(firstInOrder[i - 1]! + 1);
    // 10 per ms × 50 ms, within the ring's memory.
    expect(r.span).toBeGreaterThanOrEqual(500);
    expect(r.span).toBeLessThanOrEqual(r.maxSpan);
  });

  test("never below the configured size, never beyond the ring's memory", () => {
    const buffer = new ReorderBuffer(64, () => {}, true);
    buffer.holdMs = 1000;
    for (let seq = 1; seq < 50_000; seq++) buffer.insert(seq, packetFor(seq), seq / 20); // seq 0 never comes
    expect(buffer.currentSpan).toBe(buffer.maxSpan);
    expect(buffer.stats.held).toBeLessThanOrEqual(buffer.maxSpan);
    const idle = new ReorderBuffer(64, () => {}, true);
    idle.holdMs = 100;
    for (let seq = 0; seq < 10; seq++) idle.insert(seq, packetFor(seq), seq * 1000);
    expect(idle.currentSpan).toBe(64);
  });
});

describe("a copy of a held packet past a span that shrank (adaptive)", () => {
  test("is a duplicate: nothing stays held below nextExpected, flush and timeouts release everything", () => {
    const delivered: number[] = [];
    const buffer = new ReorderBuffer(4, (p) => delivered.push(seqOf(p)), true);
    buffer.holdMs = 10;
    // A busy window (102 packets in 10 ms) widens the span to 102...
    for (let seq = 0; seq <= 100; seq++) buffer.insert(seq, packetFor(seq), seq / 11);
    buffer.insert(101, packetFor(101), 10);
    // ...then a hole at 102 with 103-150 held behind it,
    for (let seq = 103; seq <= 150; seq++) buffer.insert(seq, packetFor(seq), 10);
    // and quiet windows (closed by copies of 103, held: duplicates) shrink it back to the capacity, 4.
    for (const t of [20, 30]) buffer.insert(103, packetFor(103), t);
    expect(buffer.heldCount).toBe(48);
    expect(buffer.stats.duplicates).toBe(2);
    // A copy of 150 (a resend, or a redundant copy) when the last window closes: the span is 4,
    // so 102 is given up and 103-150 delivered, 150 among them.
    buffer.insert(150, packetFor(150), 40);
    expect(buffer.currentSpan).toBe(4);
    expect(buffer.nextExpected).toBe(151);
    expect(buffer.stats.duplicates).toBe(3);
    // Before the fix the copy was held again below nextExpected: held 1, never released, and
    // handleTimeout looped on it for ever.
    expect(buffer.heldCount).toBe(0);
    buffer.handleTimeout(1000);
    buffer.flush();
    expect(buffer.heldCount).toBe(0);
    expect(delivered).toEqual([...range(0, 102), ...range(103, 151)]);
  });
});
