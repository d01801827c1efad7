/**
 * The simulator hands the receiving core small stand-ins for data packets (corepair.ts ViewRing).
 * They must keep each packet's length: the equaliser counts only packets over the express lane's
 * size as bulk (equaliser.ts BULK_MIN_BYTES), which is what makes a link a carrier and ages one
 * that stopped carrying. With 24-byte stand-ins no packet was bulk, no link ever aged out, and
 * every simulated tunnel held all its traffic to its slowest link's timing for good, which the
 * daemon does not (a 20 Mbit/s 5 ms link beside an LTE trace at 60 ms, CUBIC, buffer off: 0.18 ×
 * the fast link alone in the simulator, the LTE link long idle).
 */
import { describe, expect, test } from "bun:test";
import { EXPRESS_MAX_BYTES } from "../../src/core/express.ts";
import { TUN_MTU, ViewRing } from "./corepair.ts";

describe("simulator packet stand-ins", () => {
  test("keep the packet's length and the bytes the harness reads", () => {
    const ring = new ViewRing();
    for (const len of [24, EXPRESS_MAX_BYTES, EXPRESS_MAX_BYTES + 1, 1000, TUN_MTU]) {
      const p = new Uint8Array(len);
      p[0] = 1;
      p.set([0xde, 0xad, 0xbe, 0xef], 20);
      const v = ring.copy(p);
      expect(v.length).toBe(len);
      expect([v[0], v[20], v[21], v[22], v[23]]).toEqual([1, 0xde, 0xad, 0xbe, 0xef]);
    }
  });

  test("a later stand-in does not change an earlier one's bytes", () => {
    const ring = new ViewRing();
    const a = new Uint8Array(TUN_MTU);
    a[0] = 1;
    a[23] = 7;
    const va = ring.copy(a);
    const b = new Uint8Array(TUN_MTU);
    b[0] = 2;
    b[23] = 9;
    ring.copy(b);
    expect([va[0], va[23]]).toEqual([1, 7]);
  });
});
