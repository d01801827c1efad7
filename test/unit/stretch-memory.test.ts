/**
 * The daemon's password stretching (src/daemon/setup.ts) hands scrypt's memory back before the
 * tunnel goes on: a collection runs right after each stretch, whose result is the core's own.
 * (What that saves is measured by the footprint bench, scripts/bench-footprint.ts.)
 */
import { expect, test } from "bun:test";
import { nativeHandshakeCrypto } from "../../src/core/handshake.ts";
import { timedHandshakeCrypto } from "../../src/daemon/setup.ts";
import type { Logger } from "../../src/log.ts";

test("each stretch is preceded by the before-hook and followed by one collection, and gives the core's result", () => {
  const order: string[] = [];
  let now = 0;
  const clock = { now: () => (now += 5), originEpochMs: 0 };
  const line = (_token: string, message: string) => order.push(`log ${message}`);
  const log: Logger = { error: line, warn: line, info: line, debug: line };
  const crypto = timedHandshakeCrypto(clock, log, () => order.push("collect"), () => order.push("before"));
  const password = new TextEncoder().encode("secret");
  const salt = Uint8Array.of(1, 2, 3, 4);
  const prs = crypto.stretch(password, salt);
  expect(prs).toEqual(nativeHandshakeCrypto.stretch(password, salt));
  expect(order.length).toBe(3);
  expect(order[0]).toBe("before");
  expect(order[1]).toBe("collect");
  expect(order[2]).toContain("key derived from the password");
  crypto.stretch(password, salt);
  expect(order.filter((o) => o === "collect").length).toBe(2);
});
