/** One link's sender: queue, pacer, in-flight record, acknowledgements and losses. */
import { describe, expect, test } from "bun:test";
import { LinkSender } from "../../src/core/linksender.ts";

const pkt = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

/** Bitmap words for a set of counters below `highest` (bit i = highest − 1 − i). */
function bitmap(highest: number, received: number[]): [number, number] {
  let hi = 0;
  let lo = 0;
  for (const c of received) {
    const d = highest - 1 - c;
    if (d >= 0 && d < 32) lo |= 1 << d;
    else if (d >= 32 && d < 64) hi |= 1 << (d - 32);
  }
  return [hi >>> 0, lo >>> 0];
}

/** `n` data packets of 1000 bytes sent 1 ms apart: counters and store slots 0..n−1, data sequence = counter. */
function sendData(s: LinkSender, n: number): void {
  for (let c = 0; c < n; c++) {
    s.enqueue(pkt(1000), c, c);
    const slot = s.peek();
    s.dequeue();
    s.onSent(c, 1000, slot, c);
  }
}

describe("LinkSender", () => {
  test("queue: copies packets, keeps order, and gives them back until the slot is reused", () => {
    const s = new LinkSender(1500, 0, 0);
    expect(s.enqueue(pkt(100, 7), 42, 0)).toBe(true);
    expect(s.enqueue(pkt(200, 8), 43, 1)).toBe(true);
    expect(s.queueLength).toBe(2);
    expect(s.queuedBytes).toBe(300);
    const first = s.peek();
    expect(s.packet(first)!.length).toBe(100);
    expect(s.packet(first)![0]).toBe(7);
    expect(s.dataSeqOf(first)).toBe(42);
    s.dequeue();
    expect(s.queuedBytes).toBe(200);
    expect(s.dataSeqOf(s.peek())).toBe(43);
  });

  test("one-way delay: relative to the session's peer clock, kept across rekeys, started again for a restarted peer", () => {
    const s = new LinkSender(1500, 0, 0);
    const seen: number[] = [];
    s.estimator.onOneWayDelaySample = (owd: number) => void seen.push(owd);
    let counter = 0;
    const sendAndAck = (sentMs: number, peerClock: number) => {
      s.onSent(counter, 1000, -1, sentMs);
      s.onAck(counter++, 0, 0, 0, sentMs + 20, peerClock);
    };
    const newSession = (peer: number) => {
      s.resetFlight(peer);
      counter = 0; // counters restart with each session
    };
    newSession(7); // the first session, with peer process 7
    sendAndAck(0, 4_000_000_000); // near the 32-bit wrap: signed arithmetic copes
    sendAndAck(100, (4_000_000_000 + 1000 + 50) >>> 0); // 100 ms later, 5 ms more delay
    newSession(7); // a rekey: same peer, same clock
    sendAndAck(200, (4_000_000_000 + 2000 + 30) >>> 0); // 3 ms more than the first
    newSession(8); // the peer restarted: another clock
    sendAndAck(300, 123);
    expect(seen).toEqual([0, 5, 3, 0]);
  });

  test("acks give RTT and delivery-rate samples; unacked packets below the threshold are lost", () => {
    const s = new LinkSender(1500, 0, 0);
    // 10 data packets of 1000 bytes, 1 ms apart, counters 0..9 (store slots 0..9)
    sendData(s, 10);
    expect(s.inflightBytes).toBe(10_000);
    // counters 0..9 acked except 4, at t = 30 ms, highest 9
    const [hi, lo] = bitmap(9, [0, 1, 2, 3, 5, 6, 7, 8]);
    const r = s.onAck(9, hi, lo, 1, 30);
    expect(r.newlyAcked).toBe(9);
    expect(r.lost).toEqual([4]);
    expect(s.inflightBytes).toBe(0);
    expect(s.lostPackets).toBe(1);
    // RTT of counter 9: sent at 9, acked at 30 with 1 ms ack delay → 20 ms
    expect(s.estimator.minRttMs).toBe(20);
    expect(s.estimator.bandwidth).toBeGreaterThan(0);
  });

  test("a late ack of an old counter does not count it twice, and a lost one stays lost", () => {
    const s = new LinkSender(1500, 0, 0);
    for (let c = 0; c < 8; c++) s.onSent(c, 500, -1, 0);
    s.onAck(7, ...bitmap(7, [0, 1, 2, 4, 5, 6]), 0, 10); // 3 lost
    const delivered = s.delivered;
    s.onAck(7, ...bitmap(7, [0, 1, 2, 3, 4, 5, 6]), 0, 11);
    expect(s.delivered).toBe(delivered);
    expect(s.lostPackets).toBe(1);
  });

  test("pacing: tokens allow a small burst, then packets wait for the rate", () => {
    // bandwidth_upload 1 MB/s = 1000 bytes/ms; the pacer starts empty
    const s = new LinkSender(1500, 1_000_000, 0);
    expect(s.canSend(1000, 0)).toBe(false);
    expect(s.sendableAt(1000, 0)).toBeCloseTo(1, 5);
    expect(s.canSend(1000, 2)).toBe(true);
    s.onSent(0, 1000, -1, 2);
    // waitFor accounts for what is queued ahead
    s.enqueue(pkt(1000), 0, 2);
    s.enqueue(pkt(1000), 1, 2);
    expect(s.waitFor(1000, 2)).toBeGreaterThan(1.5);
  });

  test("pacing: while the rate is the initial guess, an initial window of 10 packets passes at once; once measured, 2 ms or 2 packets", () => {
    /** Packets of `bytes` the pacer lets out at once after `idleMs` with nothing sent. */
    const burstAfterIdle = (s: LinkSender, bytes: number, idleMs: number) => {
      let n = 0;
      while (n < 100 && s.canSend(bytes, idleMs)) s.onSent(n++, bytes, -1, idleMs);
      return n;
    };
    const guessed = new LinkSender(1500, 0, 0);
    expect(guessed.estimator.isGuess).toBe(true);
    expect(burstAfterIdle(guessed, 1400, 50)).toBe(10);
    // A delivery sample above the guess (600 bytes/ms, paced at twice that in startup): the bucket is 2 packets.
    const measured = new LinkSender(1500, 0, 0);
    measured.estimator.onRateSample(600, true, 0);
    expect(measured.estimator.isGuess).toBe(false);
    expect(burstAfterIdle(measured, 1400, 50)).toBe(2);
    // A configured bandwidth_upload is not a guess either.
    expect(new LinkSender(1500, 1_000_000, 0).estimator.isGuess).toBe(false);
  });

  test("pacing: at the time sendableAt gives, the pacer lets the packet go, on a clock of a day's or a year's uptime", () => {
    // The time is a sum on a clock of ms since start: its last bits (1e-8 ms after a day, 4e-6
    // after a year) times the rate were more than the tokens' epsilon, and a timer set for it
    // found the tokens short and fired for nothing (135 of these 1800 before).
    let short = 0;
    for (const start of [86_400_000 + 1 / 3, 3e10 + 0.7]) {
      for (const rate of [100, 10_000, 1_000_000]) {
        const s = new LinkSender(1500, rate * 1000, start); // bandwidth_upload: paced at `rate` bytes/ms
        let now = start;
        for (let i = 0; i < 300; i++) {
          const bytes = 40 + ((i * 7919) % 1460);
          now = s.sendableAt(bytes, now); // the timer fires then
          if (s.sendableAt(bytes, now) !== now) (short++, (now = s.sendableAt(bytes, now)));
          s.onSent(i, bytes, -1, now);
        }
      }
    }
    expect(short).toBe(0);
  });

  test("abandonInFlight returns the data packets still in flight and clears the accounting", () => {
    const s = new LinkSender(1500, 0, 0);
    s.onSent(0, 100, 5, 0);
    s.onSent(1, 100, -1, 0);
    s.onSent(2, 100, 6, 0);
    s.onAck(1, 0, 0, 0, 5); // only counter 1 acked so far (0 is not yet below the threshold)
    expect(s.abandonInFlight()).toEqual([5, 6]);
    expect(s.inflightBytes).toBe(0);
  });

  test("a loss report (the link's acknowledgement, carried by another link) gives the losses only", () => {
    const s = new LinkSender(1500, 0, 0);
    // 70 data packets, 1 ms apart: counters 0..69, store slots 0..69
    sendData(s, 70);
    const minRttBefore = s.estimator.minRttMs;
    // The report: highest 69, everything in its 64-counter bitmap arrived but 60 and 68. Counters
    // 0..4 lie below the bitmap: they may have arrived, and only the link's own FEEDBACK says so.
    const received = [...Array(69).keys()].filter((c) => c !== 60 && c !== 68);
    const [hi, lo] = bitmap(69, received);
    // 60 is 9 counters below the highest (lost by the threshold); 68 is 1 below and sent 1 ms
    // before it, within the reordering window: not yet lost.
    expect(s.lossesShown(69, hi, lo)).toEqual([60]);
    expect(s.lostPackets).toBe(1);
    // Nothing acknowledged, no RTT or rate sample from the other path.
    expect(s.inflightBytes).toBe(69_000);
    expect(s.estimator.minRttMs).toBe(minRttBefore);
    // Reported again: 60 is not lost twice. The link's own FEEDBACKs then acknowledge the rest.
    expect(s.lossesShown(69, hi, lo)).toEqual([]);
    const [hi0, lo0] = bitmap(4, [0, 1, 2, 3]);
    expect(s.onAck(4, hi0, lo0, 0, 50).newlyAcked).toBe(5);
    const r = s.onAck(69, hi, lo, 0, 100);
    expect(r.lost).toEqual([]);
    expect(r.newlyAcked).toBe(63);
    expect(s.lostPackets).toBe(1);
  });

  test("a resend queued `first` leaves before what waits, once; the queue then passes over it", () => {
    const s = new LinkSender(1500, 0, 0);
    for (let i = 0; i < 3; i++) s.enqueue(pkt(100 + i), 10 + i, 0);
    expect(s.waitFor(100, 0, true)).toBeLessThan(s.waitFor(100, 0));
    s.enqueue(pkt(500), 7, 0, 1, true);
    expect(s.queuedBytes).toBe(100 + 101 + 102 + 500);
    const order: number[] = [];
    for (let slot = s.peek(); slot >= 0; slot = s.peek()) {
      order.push(s.dataSeqOf(slot));
      s.dequeue();
    }
    expect(order).toEqual([7, 10, 11, 12]);
    expect(s.queuedBytes).toBe(0);
    expect(s.queueLength).toBe(0);
  });

  test("what went early is not counted as waiting: a packet sent with nothing else queued is application-limited", () => {
    const s = new LinkSender(1500, 0, 0);
    const appLimited: boolean[] = [];
    const onRateSample = s.estimator.onRateSample.bind(s.estimator);
    s.estimator.onRateSample = (rate, limited, nowMs) => (appLimited.push(limited), onRateSample(rate, limited, nowMs));
    let counter = 0;
    const send = (nowMs: number): void => {
      const slot = s.peek();
      s.dequeue();
      s.onSent(counter++, s.lengthOf(slot) + 40, slot, nowMs);
    };
    // A resend a loss report asked for (`first`), nothing else waiting. Before, the slot it left
    // was still counted in queueLength until the next peek(), when onSent read it.
    s.enqueue(pkt(1000), 7, 0, 1, true);
    send(0);
    expect(s.queueLength).toBe(0);
    // A packet queued, a resend behind it that goes first, then the packet: only the packet is not application-limited.
    s.enqueue(pkt(1000), 8, 1);
    s.enqueue(pkt(1000), 9, 1, 1, true);
    send(1);
    expect(s.queueLength).toBeGreaterThan(0);
    send(2);
    expect(s.queueLength).toBe(0);
    for (let c = 0; c < counter; c++) s.onAck(c, 0, 0, 0, 30 + c);
    expect(appLimited).toEqual([true, false, true]);
  });
});
