/**
 * The attacks of the protocol v1 security review, reproduced against protocol v2 on the
 * simulator (docs/protocol.md "Threat model" says why each fails now):
 *   1. offline password guessing from a captured handshake;
 *   2. a captured INIT replayed to another link's port just after the client's rekey;
 *   3. junk from the client's address keeping a restarted client out;
 *   4. a handshake flood from spoofed sources: no curve work, few log lines.
 * And a fuzz of every v2 handshake message.
 */
import { describe, expect, test } from "bun:test";
import { createDecipheriv } from "node:crypto";
import { calculateGenerator, intermediateSessionKey } from "../../src/crypto/cpace.ts";
import { hkdf, hmac, passwordKey, x25519Raw } from "../../src/crypto/primitives.ts";
import { channelId } from "../../src/core/handshake.ts";
import { LinkStatus } from "../../src/core/link.ts";
import type { Tunnel } from "../../src/core/tunnel.ts";
import { clientAddr, SeededRandom, SimPair, type Side } from "./simnet.ts";

const enc = new TextEncoder();
const WORDS = ["password", "123456", "letmein", "mlvpn", "you have not changed me yet?", "pleasechangeme!", "correct horse battery staple", "hunter2"];
const PASSWORD = "pleasechangeme!";

const T = { HELLO: 0x21, CHALLENGE: 0x22, INIT: 0x23, RESP: 0x24, CONFIRM: 0x25, DATA: 0x13 } as const;

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle));
}

describe("1. offline password guessing", () => {
  /** v1's INIT (docs of protocol v1): MAC keyed by scrypt(password, one fixed salt). */
  function v1Init(password: string, random: SeededRandom): Uint8Array {
    const psk = passwordKey(enc.encode(password), enc.encode("mlvpn v1 password salt"), { N: 16, r: 1, p: 1, maxmem: 1 << 20 });
    const m = new Uint8Array(64);
    m[0] = 0x11;
    random.fill(m.subarray(4, 44));
    const macKey = hkdf(psk, new Uint8Array(0), enc.encode("mlvpn v1 handshake mac"), 32);
    m.set(hmac(macKey, m.subarray(0, 48)).subarray(0, 16), 48);
    return m;
  }

  /**
   * Everything an attacker holding the transcript and a guess can compute without talking to a
   * peer: the stretched guess, the generator, MACs keyed by them over every message, and key
   * confirmation / decryption attempts with every shared point computable without a secret scalar.
   * Returns which of those tests "match" the transcript.
   */
  function offlineTests(captured: Uint8Array[], guess: string, stretch: (pw: Uint8Array, salt: Uint8Array) => Uint8Array): boolean[] {
    const chal = captured.find((m) => m[0] === T.CHALLENGE)!;
    const init = captured.find((m) => m[0] === T.INIT)!;
    const resp = captured.find((m) => m[0] === T.RESP)!;
    const data = captured.find((m) => m[0] === T.DATA)!;
    const salt = chal.subarray(36, 52);
    const sid = init.subarray(8, 40);
    const ya = init.subarray(40, 72);
    const yb = resp.subarray(12, 44);
    const prs = stretch(enc.encode(guess), salt);
    const g = calculateGenerator(prs, channelId(5080), sid);
    const macs = captured.flatMap((m) => [8, 12, 40, 44, 48].filter((n) => n < m.length).map((n) => hmac(prs, m.subarray(0, n)).subarray(0, 16)));
    const pointCandidates = [g, x25519Raw(prs, ya), x25519Raw(prs, yb), x25519Raw(prs, g), ya, yb].filter((p): p is Uint8Array => p !== undefined);
    const results: boolean[] = [];
    results.push(captured.some((m) => contains(m, g)));
    results.push(captured.some((m) => macs.some((mac) => contains(m, mac))));
    for (const k of pointCandidates) {
      const isk = intermediateSessionKey(sid, k, ya, init.subarray(0, 8), yb, resp.subarray(0, 12));
      const okm = hkdf(isk, sid, enc.encode("mlvpn v2 session keys"), 136);
      results.push(Buffer.from(hmac(okm.subarray(0, 32), resp.subarray(0, 48)).subarray(0, 16)).equals(resp.subarray(48, 64)));
      // The first transport packet, opened with the key for its direction.
      for (const key of [okm.subarray(64, 96), okm.subarray(96, 128)]) {
        const nonce = new Uint8Array(12);
        nonce.set(data.subarray(8, 16), 4);
        const d = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
        d.setAAD(data.subarray(0, 16));
        d.setAuthTag(data.subarray(data.length - 16));
        d.update(data.subarray(16, data.length - 16));
        let opened = true;
        try {
          d.final();
        } catch {
          opened = false;
        }
        results.push(opened);
      }
    }
    return results;
  }

  test("v1: one captured INIT tells the right guess from every other (the test can detect it)", () => {
    const init = v1Init(PASSWORD, new SeededRandom(3));
    const matches = WORDS.filter((w) => {
      const psk = passwordKey(enc.encode(w), enc.encode("mlvpn v1 password salt"), { N: 16, r: 1, p: 1, maxmem: 1 << 20 });
      const macKey = hkdf(psk, new Uint8Array(0), enc.encode("mlvpn v1 handshake mac"), 32);
      return Buffer.from(hmac(macKey, init.subarray(0, 48)).subarray(0, 16)).equals(init.subarray(48));
    });
    expect(matches).toEqual([PASSWORD]);
  });

  test("v2: a full handshake and transport capture gives every guess the same (negative) result", () => {
    const sim = new SimPair({ links: [{}], clientPassword: PASSWORD, serverPassword: PASSWORD, seed: 21 });
    sim.run(100);
    sim.sendStream("client", 5, 1);
    expect(sim.client.links[0]!.status).toBe(LinkStatus.AuthOk);
    const captured = sim.captured.map((d) => d.bytes);
    expect(new Set(captured.map((m) => m[0]))).toEqual(new Set([T.HELLO, T.CHALLENGE, T.INIT, T.RESP, T.CONFIRM, T.DATA]));
    // The simulation stretches with small scrypt parameters: the attacker gets the same function.
    const stretch = (pw: Uint8Array, salt: Uint8Array) => passwordKey(pw, salt, { N: 16, r: 1, p: 1, maxmem: 1 << 20 });
    const outcomes = WORDS.map((w) => JSON.stringify(offlineTests(captured, w, (pw, s) => stretch(pw, new Uint8Array([...enc.encode("mlvpn v2 password"), ...s])))));
    // Every guess, the right one included, gives exactly the same outcome: nothing matches.
    expect(new Set(outcomes).size).toBe(1);
    expect(JSON.parse(outcomes[0]!).every((x: boolean) => x === false)).toBe(true);
  });
});

describe("2. replayed handshake messages never disturb a tunnel", () => {
  test("an INIT from link 1 replayed to link 0's port 11 ms after the client's rekey INIT: refused, no gap", () => {
    const sim = new SimPair({ links: [{}, {}], seed: 5 });
    sim.run(1000);
    const old = sim.captured.find((d) => d.from === "client" && d.link === 1 && d.bytes[0] === T.INIT)!;
    const fresh = () => [...sim.captured].reverse().find((d) => d.from === "client" && d.link === 1 && d.bytes[0] === T.INIT)!;
    const attacker = { address: "203.0.113.66", port: 1234 };
    let injected = 0;
    // Traffic all along; at the rekey of link 0, every INIT seen so far is replayed to link 0 from
    // the attacker, from the client's own addresses, right after the real one.
    let armedAt = -1;
    sim.filter = (d) => {
      if (d.from === "client" && d.link === 0 && d.bytes[0] === T.INIT && d.atMs > 100_000 && armedAt < 0) armedAt = d.atMs;
      return true;
    };
    const rx: number[] = [];
    while (sim.now < 200_000) {
      sim.sendStream("client", 10, 10, 1000, sim.now);
      if (armedAt > 0 && sim.now >= armedAt + 11 && injected === 0) {
        const nextBefore = sim.server.links[0]!.next?.localIndex;
        const sent = sim.captured.length;
        for (const d of [old, fresh(), ...sim.captured.filter((c) => c.bytes[0] === T.INIT)]) {
          for (const src of [attacker, clientAddr(0), clientAddr(1)]) {
            sim.inject("server", 0, d.bytes, src);
            injected++;
          }
        }
        expect(sim.captured.length).toBe(sent); // nothing answered
        expect(sim.server.links[0]!.next?.localIndex).toBe(nextBefore);
      }
      rx.push(sim.server.links[0]!.counters.recvPackets);
    }
    expect(injected).toBeGreaterThan(0);
    // Link 0 received something in every 100 ms step from 1 s on (no gap of a rekey's length).
    const gaps = rx.slice(10).filter((v, i, a) => i > 0 && v === a[i - 1]).length;
    expect(gaps).toBe(0);
    expect(sim.server.drops.get("bad-cookie") + sim.server.drops.get("replay")).toBe(injected);
    expect(sim.server.links.every((l) => l.status === LinkStatus.AuthOk)).toBe(true);
  }, 60_000);

  test("after a server restart, every captured handshake message is refused (new cookie key), and a client restart changes nothing either", () => {
    const sim = new SimPair({ links: [{}, {}], seed: 13 });
    sim.run(1000);
    const handshakes = sim.captured.filter((d) => d.from === "client" && d.bytes[0] !== T.DATA && d.bytes[0] !== T.HELLO);
    sim.restart("server", 99);
    sim.run(sim.now + 5000);
    const before = sim.server.links.map((l) => [l.current?.localIndex, l.next?.localIndex]);
    const sent = sim.captured.length;
    for (const d of handshakes) for (const link of [0, 1]) sim.inject("server", link, d.bytes, d.src);
    expect(sim.captured.length).toBe(sent);
    expect(sim.server.links.map((l) => [l.current?.localIndex, l.next?.localIndex])).toEqual(before);
    sim.restart("client", 77);
    sim.run(sim.now + 3000);
    const again = sim.captured.length;
    for (const d of handshakes) for (const link of [0, 1]) sim.inject("server", link, d.bytes, d.src);
    expect(sim.captured.length).toBe(again);
    expect(sim.server.links.every((l) => l.status === LinkStatus.AuthOk)).toBe(true);
  });
});

describe("3. junk from the client's address does not keep it out", () => {
  test("client restart under 200 junk datagrams/s per port from its own addresses: all links up within 10 s", () => {
    const sim = new SimPair({ links: [{}, {}, {}], seed: 7 });
    sim.run(1000);
    const rnd = new SeededRandom(99);
    const junk = () => {
      const type = [T.HELLO, T.INIT, T.CONFIRM, T.RESP, T.CHALLENGE, T.DATA][rnd.next() % 6]!;
      const size = { [T.HELLO]: 64, [T.INIT]: 72, [T.CONFIRM]: 48, [T.RESP]: 64, [T.CHALLENGE]: 64, [T.DATA]: 100 }[type]!;
      const b = new Uint8Array(size);
      rnd.fill(b);
      b[0] = type;
      b[1] = type === T.INIT ? 0 : b[1]!;
      return b;
    };
    const restartAt = sim.now;
    sim.restart("client", 123);
    const upAt: number[] = [];
    while (sim.now < restartAt + 30_000) {
      // 200 per second per port = one every 5 ms on each link.
      for (let l = 0; l < 3; l++) sim.inject("server", l, junk(), clientAddr(l));
      sim.run(sim.now + 5);
      if (upAt.length === 0 && sim.client.links.every((l) => l.isUp) && sim.server.links.every((l) => l.isUp && l.current?.peerInstance === sim.client.instance)) upAt.push(sim.now);
    }
    expect(upAt.length).toBe(1);
    expect(upAt[0]! - restartAt).toBeLessThan(10_000);
    expect(sim.server.drops.get("handshake-rate")).toBe(0);
  }, 60_000);
});

describe("4. handshake flood from spoofed sources", () => {
  function flood(sim: SimPair, n: number, rnd: SeededRandom): void {
    for (let i = 0; i < n; i++) {
      const src = { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1 + (i % 60000) };
      const hello = new Uint8Array(64);
      hello[0] = T.HELLO;
      hello[1] = 2;
      rnd.fill(hello.subarray(4, 20));
      sim.inject("server", i % 2, hello, src);
      const init = new Uint8Array(72);
      rnd.fill(init);
      init[0] = T.INIT;
      init[1] = 0;
      sim.inject("server", i % 2, init, src);
    }
  }

  test("10 000 spoofed sources: no curve work, a few log lines, answers no larger than requests; the real client still connects", () => {
    const sim = new SimPair({ links: [{}, {}], seed: 9 });
    const rnd = new SeededRandom(5);
    const dh0 = sim.crypto.server.scalarMults;
    const logs0 = sim.rec.server.logs.length;
    const sent0 = sim.captured.length;
    flood(sim, 10_000, rnd);
    expect(sim.crypto.server.scalarMults).toBe(dh0);
    expect(sim.crypto.server.stretches).toBe(1); // once, at start
    expect(sim.rec.server.logs.length - logs0).toBeLessThanOrEqual(2);
    const answers = sim.captured.slice(sent0);
    expect(answers.every((a) => a.bytes[0] === T.CHALLENGE && a.bytes.length === 64)).toBe(true);
    // The flood goes on while the client connects: the client's links come up.
    for (let t = 0; t < 20; t++) {
      flood(sim, 500, rnd);
      sim.run(sim.now + 50);
    }
    expect(sim.client.links.every((l) => l.isUp)).toBe(true);
    expect(sim.server.links.every((l) => l.isUp)).toBe(true);
    // Curve work: only the real client's handshakes (2 X25519 per handshake and link).
    expect(sim.crypto.server.scalarMults - dh0).toBe(4);
  }, 60_000);

  test("v2 INITs with forged cookies from the client's own address spend no limit", () => {
    const sim = new SimPair({ links: [{}], seed: 4 });
    const rnd = new SeededRandom(6);
    for (let i = 0; i < 5000; i++) {
      const init = new Uint8Array(72);
      rnd.fill(init);
      init[0] = T.INIT;
      init[1] = 0;
      sim.inject("server", 0, init, clientAddr(0));
    }
    sim.run(100);
    expect(sim.server.drops.get("bad-cookie")).toBe(5000);
    expect(sim.server.drops.get("handshake-rate")).toBe(0);
    expect(sim.client.links[0]!.isUp).toBe(true);
  }, 60_000);
});

describe("5. cleartext_data is agreed", () => {
  test("enabled on one end only: everything sealed, and a cleartext packet under that session is refused", () => {
    for (const [client, server] of [[true, false], [false, true]] as const) {
      const sim = new SimPair({ links: [{}], cleartextData: client, serverCleartextData: server, seed: 8 });
      sim.run(100);
      for (const side of ["client", "server"] as const) (side === "client" ? sim.client : sim.server).handleTunPacket(enc.encode("E".repeat(20) + "secret payload"), sim.now);
      sim.run(sim.now + 50);
      expect(sim.captured.filter((d) => d.bytes[0] === 0x14)).toEqual([]);
      expect(sim.captured.some((d) => new TextDecoder().decode(d.bytes).includes("secret payload"))).toBe(false);
      expect(sim.rec.server.delivered.length + sim.rec.client.delivered.length).toBe(2);
      // The same packet, relabelled cleartext by an attacker: refused before any decryption.
      const sealed = sim.captured.filter((d) => d.from === "client" && d.bytes[0] === 0x13).at(-1)!;
      const relabelled = sealed.bytes.slice();
      relabelled[0] = 0x14;
      sim.inject("server", 0, relabelled, sealed.src);
      expect(sim.server.drops.get("cleartext-refused")).toBe(1);
    }
  });
});

describe("fuzz of every v2 handshake message", () => {
  test("2000 mutations of each message type, to both ends and every link: no throw, no state change, no larger answer", () => {
    const sim = new SimPair({ links: [{}, {}], seed: 31 });
    sim.run(1000);
    sim.sendStream("client", 20, 5);
    sim.run(sim.now + 50);
    const state = (t: Tunnel) => JSON.stringify(t.links.map((l) => [l.status, l.current?.localIndex, l.previous?.localIndex, l.next?.localIndex, l.handshake.phase, l.peer]));
    const before = { client: state(sim.client), server: state(sim.server) };
    const rnd = new SeededRandom(2027);
    for (const type of [T.HELLO, T.CHALLENGE, T.INIT, T.RESP, T.CONFIRM]) {
      const samples = sim.captured.filter((d) => d.bytes[0] === type);
      expect(samples.length).toBeGreaterThan(0);
      for (let i = 0; i < 2000; i++) {
        const base = samples[rnd.next() % samples.length]!;
        let b = base.bytes.slice();
        const how = rnd.next() % 4;
        if (how === 0) for (let k = 0; k <= rnd.next() % 4; k++) b[1 + (rnd.next() % (b.length - 1))]! ^= 1 << (rnd.next() % 8);
        else if (how === 1) b = b.subarray(0, rnd.next() % b.length);
        else if (how === 2) b = new Uint8Array([...b, ...new Uint8Array(1 + (rnd.next() % 16))]);
        else rnd.fill(b.subarray(1));
        b[0] = type;
        for (const to of ["client", "server"] as Side[]) {
          const n = sim.captured.length;
          sim.inject(to, rnd.next() % 2, b, rnd.next() % 2 ? base.src : { address: "198.18.0.1", port: 9 });
          for (const a of sim.captured.slice(n)) expect(a.bytes.length).toBeLessThanOrEqual(b.length);
        }
      }
    }
    expect(state(sim.client)).toBe(before.client);
    expect(state(sim.server)).toBe(before.server);
  }, 60_000);
});
