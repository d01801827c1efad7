/**
 * Handshake cost (protocol v2, docs/protocol.md): one full CPace handshake in memory, both ends,
 * with the runtime's native crypto, timed over many runs; beside it, in the same run, the
 * protocol v1 handshake's operations (two ephemeral X25519 key pairs, two DH, HKDF, HMAC) for
 * comparison, the password stretching (scrypt, once per salt), and the data path's AES-256-GCM
 * seal of a 1400-byte packet (unchanged by v2). The machine may be shared: compare the columns
 * of one run, not runs with each other.
 *
 *   bun scripts/bench-handshake.ts [--runs 300] [--against DIR]
 * Also part of `npm run bench` (scenario H). `--against DIR` also times, interleaved in the same
 * run, the v2 handshake of another checkout (e.g. `git archive main src | tar -x -C DIR` with
 * node_modules linked in): a before/after comparison on one noisy machine.
 */
import { resolve } from "node:path";
import { createAead } from "../src/crypto/aead.ts";
import { installNativeAead } from "../src/io/libcrypto.ts";
import * as handshake from "../src/core/handshake.ts";
import { Session } from "../src/core/session.ts";
import { createPrivateKey, createPublicKey, diffieHellman } from "node:crypto";
import { elligator2 } from "../src/crypto/cpace.ts";
import { hkdf, hmac, PKCS8_X25519, sha256, SPKI_X25519, x25519, x25519KeyPair } from "../src/crypto/primitives.ts";

// The data path as the daemon runs it: libcrypto when the system has it.
installNativeAead();

export interface HandshakeMetric {
  name: string;
  value: number | string;
  unit?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));

type Handshake = typeof handshake;

/** One v2 handshake, both ends, from HELLO to the verified CONFIRM, with the functions of `h`. */
function v2Handshake(h: Handshake, secrets: handshake.HandshakeSecrets, prs: Uint8Array, salt: Uint8Array, cookieKey: Uint8Array): void {
  const hello = h.createHello(rand(16));
  const nonce = h.helloNonce(hello)!;
  const ch = h.parseChallenge(h.createChallenge(nonce, h.cookie(cookieKey, 0, "192.0.2.1", 40000, nonce), salt))!;
  // A checkout from before the link was bound (no channelId) takes no server port.
  const port: number[] = "channelId" in h ? [5080] : [];
  const createInit = h.createInit as (...a: unknown[]) => handshake.InitState | undefined;
  const createResp = h.createResp as (...a: unknown[]) => ReturnType<Handshake["createResp"]>;
  const sent = createInit(secrets, prs, ch, ...port, 1, false, rand(32))!;
  const init = h.parseInit(sent.message)!;
  const resp = createResp(secrets, prs, sent.message, init, ...port, 2, 7, false, rand(32), 0)!;
  const r = h.consumeResp(secrets, sent, resp.message, 9, 0)!;
  if (h.consumeConfirm(resp.confirm, r.confirm) !== 9) throw new Error("handshake failed");
}

/** Both ends' sessions (two AEAD keys each): made by every handshake, v1's as v2's. */
function sessions(): void {
  for (let i = 0; i < 4; i++) createAead("aes-256-gcm", rand(32));
}

/**
 * The floor: only the native operations CPace itself needs, both ends — for each end one
 * Elligator 2 map (its one modular exponentiation), one private-key import (the runtime computes
 * the key's public key then, a fixed-base multiplication we cannot skip) and two variable-base
 * X25519 (ya·g and ya·Yb) — plus the sessions. v1 needed per end one key pair and one X25519.
 */
function floorOperations(g: Uint8Array): void {
  for (let end = 0; end < 2; end++) {
    elligator2(BigInt(`0x${Buffer.from(rand(32)).toString("hex")}`) & ((1n << 255n) - 1n));
    const der = Buffer.concat([PKCS8_X25519, rand(32)]);
    const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    for (let i = 0; i < 2; i++) diffieHellman({ privateKey, publicKey: createPublicKey({ key: Buffer.concat([SPKI_X25519, g]), format: "der", type: "spki" }) });
  }
  sessions();
}

/** What v1 computed per handshake (docs of protocol v1): for comparison only. */
function v1Operations(macKey: Uint8Array, psk: Uint8Array): void {
  const i = x25519KeyPair(rand(32));
  const initMsg = new Uint8Array(64);
  initMsg.set(i.publicKey, 12);
  initMsg.set(hmac(macKey, initMsg.subarray(0, 48)).subarray(0, 16), 48);
  const r = x25519KeyPair(rand(32));
  const respMsg = new Uint8Array(64);
  respMsg.set(r.publicKey, 16);
  respMsg.set(hmac(macKey, initMsg, respMsg.subarray(0, 48)).subarray(0, 16), 48);
  for (const shared of [x25519(r.privateKey, i.publicKey)!, x25519(i.privateKey, r.publicKey)!]) hkdf(shared, psk, sha256(initMsg, respMsg), 64);
  sessions();
}

/** `against`: another checkout's handshake module, timed beside this one (see the header). */
export function handshakeBench(runs = 300, against?: { dir: string; h: Handshake }): HandshakeMetric[] {
  const secrets = handshake.handshakeSecrets("bench password", "aes-256-gcm");
  const otherSecrets = against?.h.handshakeSecrets("bench password", "aes-256-gcm");
  const salt = rand(16);
  const t0 = performance.now();
  const prs = secrets.crypto.stretch(secrets.password, salt);
  const stretchMs = performance.now() - t0;
  const cookieKey = rand(32);
  const psk = rand(32);
  const macKey = rand(32);
  const v2: number[] = [];
  const v1: number[] = [];
  const floor: number[] = [];
  const other: number[] = [];
  const g = x25519KeyPair(rand(32)).publicKey;
  for (let i = -20; i < runs; i++) {
    // The first 20 rounds warm up and are not counted.
    const keep = (xs: number[], t: number) => i >= 0 && xs.push(performance.now() - t);
    let t = performance.now();
    v2Handshake(handshake, secrets, prs, salt, cookieKey);
    keep(v2, t);
    t = performance.now();
    v1Operations(macKey, psk);
    keep(v1, t);
    t = performance.now();
    floorOperations(g);
    keep(floor, t);
    if (against && otherSecrets) {
      t = performance.now();
      v2Handshake(against.h, otherSecrets, prs, salt, cookieKey);
      keep(other, t);
    }
  }
  // The data path: one AES-256-GCM seal of a 1400-byte packet, as the tunnel does it.
  const s = new Session(1, 2, createAead("aes-256-gcm", rand(32)), createAead("aes-256-gcm", rand(32)), 0, true, 0);
  const out = new Uint8Array(2048);
  const body = rand(1400);
  const prefix = new Uint8Array(8);
  const n = 20_000;
  const ts = performance.now();
  for (let i = 0; i < n; i++) s.seal(prefix, body, out, false);
  const sealUs = ((performance.now() - ts) * 1000) / n;
  return [
    { name: "v2 handshake, both ends (CPace: 4 X25519, 2 Elligator 2), median", value: Number(median(v2).toFixed(3)), unit: "ms" },
    { name: "v1 handshake operations, both ends (2 key pairs, 2 DH, the sessions), median, same run", value: Number(median(v1).toFixed(3)), unit: "ms" },
    { name: "floor: CPace's native operations alone, both ends (2 Elligator 2, 2 key imports, 4 X25519, the sessions), median, same run", value: Number(median(floor).toFixed(3)), unit: "ms" },
    ...(against ? [{ name: `v2 handshake of ${against.dir}, median, same run`, value: Number(median(other).toFixed(3)), unit: "ms" }] : []),
    { name: "password stretching (scrypt N=2^14 r=8, once per server salt)", value: Number(stretchMs.toFixed(1)), unit: "ms" },
    { name: "data path: AES-256-GCM seal of a 1400-byte packet", value: Number(sealUs.toFixed(2)), unit: "µs" },
  ];
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const dir = arg("--against");
  const against = dir ? { dir, h: (await import(resolve(dir, "src/core/handshake.ts"))) as Handshake } : undefined;
  // The other checkout's sessions on libcrypto too (its own module instance), as this one's.
  if (dir) ((await import(resolve(dir, "src/io/libcrypto.ts"))) as { installNativeAead(): void }).installNativeAead();
  for (const m of handshakeBench(Number(arg("--runs") ?? 300), against)) console.log(`${m.name}: ${m.value} ${m.unit ?? ""}`);
}
