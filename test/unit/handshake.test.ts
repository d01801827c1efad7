/** The handshake on its own: two ends in memory, then every way it must refuse. */
import { describe, expect, test } from "bun:test";
import { consumeInit, consumeResp, createInit, createResp, handshakeSecrets } from "../../src/core/handshake.ts";
import { HANDSHAKE_SIZE, INIT_EPHEMERAL_OFF, RESP_EPHEMERAL_OFF } from "../../src/wire/layout.ts";
import { SeededRandom } from "../sim/simnet.ts";

const rnd = new SeededRandom(42);
const bytes = (n: number) => {
  const b = new Uint8Array(n);
  rnd.fill(b);
  return b;
};
const secrets = handshakeSecrets(new Uint8Array(32).fill(9), "aes-256-gcm");

function handshake() {
  const sent = createInit(secrets, 111, 0xaaaa, bytes(32), 0);
  const check = consumeInit(secrets, sent.message);
  if (!check.ok) throw new Error("init refused");
  const resp = createResp(secrets, sent.message, check.init, 222, 0xbbbb, bytes(32), 0)!;
  return { sent, check, resp };
}

describe("handshake", () => {
  test("both ends derive matching keys: each opens what the other seals", () => {
    const { sent, resp } = handshake();
    const initiator = consumeResp(secrets, sent, resp.message, 0)!;
    expect(initiator.localIndex).toBe(111);
    expect(initiator.remoteIndex).toBe(222);
    expect(initiator.peerInstance).toBe(0xbbbb);
    expect(resp.session.peerInstance).toBe(0xaaaa);
    const out = new Uint8Array(200);
    const n = initiator.seal(new Uint8Array([0]), new TextEncoder().encode("hello"), out, false);
    expect(new TextDecoder().decode(resp.session.open(0, out.subarray(0, n))!.subarray(1))).toBe("hello");
    const m = resp.session.seal(new Uint8Array([1]), new Uint8Array(0), out, false);
    expect(initiator.open(0, out.subarray(0, m))).toEqual(new Uint8Array([1]));
  });

  test("messages are 64 bytes both ways (no amplification)", () => {
    const { sent, resp } = handshake();
    expect(sent.message.length).toBe(HANDSHAKE_SIZE);
    expect(resp.message.length).toBe(HANDSHAKE_SIZE);
  });

  test("a wrong password is refused on both sides", () => {
    const other = handshakeSecrets(new Uint8Array(32).fill(8), "aes-256-gcm");
    const { sent, resp } = handshake();
    expect(consumeInit(other, sent.message)).toEqual({ ok: false, reason: "bad-mac" });
    expect(consumeResp(other, sent, resp.message, 0)).toBeUndefined();
  });

  test("every single flipped bit of INIT or RESP is refused", () => {
    const { sent, resp } = handshake();
    for (let i = 0; i < HANDSHAKE_SIZE * 8; i++) {
      const init = sent.message.slice();
      init[i >> 3]! ^= 1 << (i & 7);
      expect(consumeInit(secrets, init).ok).toBe(false);
      const r = resp.message.slice();
      r[i >> 3]! ^= 1 << (i & 7);
      expect(consumeResp(secrets, sent, r, 0)).toBeUndefined();
    }
  });

  test("a RESP for another INIT is refused (bound to the INIT it answers)", () => {
    const a = handshake();
    const b = handshake();
    expect(consumeResp(secrets, a.sent, b.resp.message, 0)).toBeUndefined();
  });

  test("a cipher mismatch is reported as such", () => {
    const chacha = handshakeSecrets(new Uint8Array(32).fill(9), "chacha20poly1305");
    const sent = createInit(chacha, 1, 1, bytes(32), 0);
    expect(consumeInit(secrets, sent.message)).toEqual({ ok: false, reason: "cipher-mismatch" });
  });

  test("a low-order ephemeral key (all zero) gives no session", () => {
    const sent = createInit(secrets, 1, 1, bytes(32), 0);
    const check = consumeInit(secrets, sent.message);
    if (!check.ok) throw new Error("refused");
    check.init.ephemeral.fill(0);
    expect(createResp(secrets, sent.message, check.init, 2, 2, bytes(32), 0)).toBeUndefined();
    expect(INIT_EPHEMERAL_OFF).toBe(12);
    expect(RESP_EPHEMERAL_OFF).toBe(16);
  });

  test("fresh randomness gives fresh keys: two handshakes never share a key", () => {
    const a = handshake();
    const b = handshake();
    const out = new Uint8Array(100);
    const n = a.resp.session.seal(new Uint8Array([1]), new Uint8Array(0), out, false);
    const initiatorB = consumeResp(secrets, b.sent, b.resp.message, 0)!;
    expect(initiatorB.open(0, out.subarray(0, n))).toBeUndefined();
  });
});
