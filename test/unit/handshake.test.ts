/** The v2 handshake messages on their own: two ends in memory, then every way it must refuse. */
import { describe, expect, test } from "bun:test";
import {
  type Challenge,
  consumeConfirm,
  consumeResp,
  cookie,
  createChallenge,
  createHello,
  createInit,
  createResp,
  handshakeSecrets,
  helloNonce,
  parseChallenge,
  parseInit,
} from "../../src/core/handshake.ts";
import { INIT_SHARE_OFF, RESP_SHARE_OFF } from "../../src/wire/layout.ts";
import { countingCrypto, SeededRandom } from "../sim/simnet.ts";

const rnd = new SeededRandom(42);
const bytes = (n: number) => {
  const b = new Uint8Array(n);
  rnd.fill(b);
  return b;
};
const counts = { scalarMults: 0, stretches: 0 };
const secrets = handshakeSecrets("correct horse battery staple", "aes-256-gcm", countingCrypto(counts));
const salt = bytes(16);
const prs = secrets.crypto.stretch(secrets.password, salt);

function challenge(): Challenge {
  const hello = createHello(bytes(16));
  const nonce = helloNonce(hello)!;
  return parseChallenge(createChallenge(nonce, cookie(bytes(32), 0, "192.0.2.1", 4000, nonce), salt))!;
}

function handshake(opts: { clientPrs?: Uint8Array; clear?: [boolean, boolean] } = {}) {
  const sent = createInit(secrets, opts.clientPrs ?? prs, challenge(), 5080, 111, opts.clear?.[0] ?? false, bytes(32))!;
  const init = parseInit(sent.message)!;
  const resp = createResp(secrets, prs, sent.message, init, 5080, 222, 0xbbbb, opts.clear?.[1] ?? false, bytes(32), 0)!;
  return { sent, init, resp };
}

describe("handshake v2", () => {
  test("both ends derive matching keys, exchange instance ids masked, and confirm each other", () => {
    const { sent, resp } = handshake();
    const r = consumeResp(secrets, sent, resp.message, 0xaaaa, 0)!;
    expect(r.session.localIndex).toBe(111);
    expect(r.session.remoteIndex).toBe(222);
    expect(r.session.peerInstance).toBe(0xbbbb);
    expect(consumeConfirm(resp.confirm, r.confirm)).toBe(0xaaaa);
    // The instance ids never appear in clear.
    for (const m of [resp.message, r.confirm]) expect(Buffer.from(m).includes(Buffer.from([0, 0, 0xaa, 0xaa])) || Buffer.from(m).includes(Buffer.from([0, 0, 0xbb, 0xbb]))).toBe(false);
    const out = new Uint8Array(200);
    const n = r.session.seal(Uint8Array.of(1), new Uint8Array([5, 6, 7]), out, false);
    expect([...resp.session.open(0, out.subarray(0, n))!]).toEqual([1, 5, 6, 7]);
    const m = resp.session.seal(Uint8Array.of(2), new Uint8Array(0), out, false);
    expect([...r.session.open(0, out.subarray(0, m))!]).toEqual([2]);
  });

  test("the initiator's secret scalar is zeroed once the RESP is processed", () => {
    const { sent, resp } = handshake();
    consumeResp(secrets, sent, resp.message, 1, 0);
    expect(sent.scalar.every((b) => b === 0)).toBe(true);
  });

  test("a refused RESP leaves the INIT's scalar, so the real RESP that follows still verifies", () => {
    const { sent, resp } = handshake();
    const forged = resp.message.slice();
    forged[50]! ^= 1;
    expect(consumeResp(secrets, sent, forged, 1, 0)).toBeUndefined();
    expect(sent.scalar.some((b) => b !== 0)).toBe(true);
    expect(consumeResp(secrets, sent, resp.message, 1, 0)).toBeDefined();
  });

  test("the link is bound: an INIT answered by the server's link of another port gives a RESP the client refuses", () => {
    const sent = createInit(secrets, prs, challenge(), 5080, 111, false, bytes(32))!;
    const resp = createResp(secrets, prs, sent.message, parseInit(sent.message)!, 5081, 222, 0xbbbb, false, bytes(32), 0)!;
    expect(consumeResp(secrets, sent, resp.message, 1, 0)).toBeUndefined();
    // The same INIT answered for the right port is accepted (the test can tell the two apart).
    const right = createResp(secrets, prs, sent.message, parseInit(sent.message)!, 5080, 223, 0xbbbb, false, bytes(32), 0)!;
    expect(consumeResp(secrets, sent, right.message, 1, 0)).toBeDefined();
  });

  test("rekey_interval: the initiator's session carries it; outside (0, 120 s] it is refused", () => {
    const short = handshakeSecrets("correct horse battery staple", "aes-256-gcm", countingCrypto(counts), 20_000);
    const { sent, resp } = handshake();
    expect(consumeResp(short, sent, resp.message, 1, 0)!.session.rekeyAfterMs).toBe(20_000);
    expect(() => handshakeSecrets("pw", "aes-256-gcm", undefined, 120_001)).toThrow(RangeError);
    expect(() => handshakeSecrets("pw", "aes-256-gcm", undefined, 0)).toThrow(RangeError);
  });

  test("a wrong password: the RESP's tag does not verify", () => {
    const other = secrets.crypto.stretch(new TextEncoder().encode("Tr0ub4dor&3"), salt);
    const { sent, resp } = handshake({ clientPrs: other });
    expect(consumeResp(secrets, sent, resp.message, 1, 0)).toBeUndefined();
  });

  test("any bit flipped in RESP or CONFIRM is refused", () => {
    for (let bit = 0; bit < 64 * 8; bit += 7) {
      const { sent, resp } = handshake();
      const r = resp.message.slice();
      r[bit >> 3]! ^= 1 << (bit & 7);
      expect(consumeResp(secrets, sent, r, 1, 0)).toBeUndefined();
    }
    for (let bit = 0; bit < 28 * 8; bit += 5) {
      const { sent, resp } = handshake();
      const c = consumeResp(secrets, sent, resp.message, 1, 0)!.confirm.slice();
      c[bit >> 3]! ^= 1 << (bit & 7);
      expect(consumeConfirm(resp.confirm, c)).toBeUndefined();
    }
  });

  test("a tampered INIT (flags, index, nonce, cookie, share) gives the ends different keys", () => {
    for (const off of [2, 4, 8, 24, INIT_SHARE_OFF + 1]) {
      const sent = createInit(secrets, prs, challenge(), 5080, 111, false, bytes(32))!;
      const m = sent.message.slice();
      m[off]! ^= 1;
      const resp = createResp(secrets, prs, m, parseInit(m)!, 5080, 222, 1, false, bytes(32), 0);
      if (resp) expect(consumeResp(secrets, sent, resp.message, 1, 0)).toBeUndefined();
    }
  });

  test("cleartext_data only when both ends enable it", () => {
    for (const [a, b] of [[false, false], [true, false], [false, true], [true, true]] as [boolean, boolean][]) {
      const { sent, resp } = handshake({ clear: [a, b] });
      const r = consumeResp(secrets, sent, resp.message, 1, 0)!;
      expect([r.session.clear, resp.session.clear]).toEqual([a && b, a && b]);
    }
  });

  test("a low-order share is refused by both ends", () => {
    const sent = createInit(secrets, prs, challenge(), 5080, 1, false, bytes(32))!;
    const m = sent.message.slice();
    m.fill(0, INIT_SHARE_OFF, INIT_SHARE_OFF + 32);
    m[INIT_SHARE_OFF] = 1; // u = 1, order 4
    expect(createResp(secrets, prs, m, parseInit(m)!, 5080, 2, 2, false, bytes(32), 0)).toBeUndefined();
    const { sent: s2, resp } = handshake();
    const r = resp.message.slice();
    r.fill(0, RESP_SHARE_OFF, RESP_SHARE_OFF + 32);
    expect(consumeResp(secrets, s2, r, 1, 0)).toBeUndefined();
  });

  test("malformed sizes are refused by the parsers", () => {
    expect(helloNonce(new Uint8Array(63))).toBeUndefined();
    expect(parseChallenge(new Uint8Array(65))).toBeUndefined();
    expect(parseInit(new Uint8Array(64))).toBeUndefined();
  });
});
