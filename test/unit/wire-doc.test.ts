/**
 * docs/protocol.md against the code: the layouts the page describes are parsed from it, bytes
 * are built as the page says, and src/wire/inner.ts must decode them (and encode what the page
 * reads back). A field moved, resized or added on one side only fails here.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AckState } from "../../src/core/ackstate.ts";
import {
  DATA_PREFIX_SIZE,
  dataSeq,
  DISCONNECT_SIZE,
  EXPRESS_PREFIX_SIZE,
  FEEDBACK_SIZE,
  KEEPALIVE_SIZE,
  KIND_DATA,
  KIND_DATA_EXPRESS,
  KIND_DATA_REDUNDANT,
  KIND_DISCONNECT,
  KIND_FEEDBACK,
  KIND_KEEPALIVE,
  KIND_LOSS_REPORT,
  KIND_TRAIN,
  newFeedback,
  newKeepalive,
  readFeedback,
  readKeepalive,
  REDUNDANT_PREFIX_SIZE,
  writeDataPrefix,
  writeFeedback,
  writeRedundantPrefix,
  writeKeepalive,
} from "../../src/wire/inner.ts";
import * as layout from "../../src/wire/layout.ts";

const doc = readFileSync(join(import.meta.dir, "../../docs/protocol.md"), "utf8");

interface Field {
  off: number;
  /** Bytes, for an integer or a [n] byte string; undefined for the open-ended rest ("…"). */
  size: number | undefined;
  /** `kind = N` / `type = 0xNN` fixed values. */
  fixed?: number;
  text: string;
}

const SIZES: Record<string, number> = { u8: 1, u16: 2, u32: 4, u56: 7, u64: 8 };

function parseField(raw: string): Field {
  const m = /^(\d+)\s+(u8|u16|u32|u56|u64|\[\d+\]|…)?\s*(.*)$/s.exec(raw.trim());
  if (!m) throw new Error(`docs/protocol.md: cannot read the field "${raw.trim()}"`);
  const [, off, type, text] = m;
  const fixed = /^(?:kind|type) = (0x[0-9A-Fa-f]+|\d+)/.exec(text!);
  const size = type === undefined ? (fixed ? 1 : undefined) : type === "…" ? undefined : type.startsWith("[") ? Number(type.slice(1, -1)) : SIZES[type];
  return { off: Number(off), size, fixed: fixed ? Number(fixed[1]) : undefined, text: text!.replace(/\s+/g, " ") };
}

/** The code block that follows `heading` in the page, as message name → fields. */
function messages(heading: string): Map<string, Field[]> {
  const at = doc.indexOf(heading);
  if (at < 0) throw new Error(`docs/protocol.md has no "${heading}"`);
  const start = doc.indexOf("```\n", at) + 4;
  const block = doc.slice(start, doc.indexOf("```", start));
  const out = new Map<string, Field[]>();
  let name = "";
  let text = "";
  const flush = () => name && out.set(name, text.split(" | ").map(parseField));
  for (const line of block.split("\n")) {
    const m = /^([A-Z]+)\s+(?:[IR] → [IR]\s+\d+ B\s+)?(.*)$/.exec(line);
    if (m) {
      flush();
      name = m[1]!;
      text = m[2]!;
    } else if (line.trim()) text += ` ${line.trim()}`;
  }
  flush();
  return out;
}

function writeInt(b: Uint8Array, f: Field, v: number): void {
  for (let i = f.size! - 1, x = v; i >= 0; i--, x = Math.floor(x / 256)) b[f.off + i] = x % 256;
}

function readInt(b: Uint8Array, f: Field): number {
  let v = 0;
  for (let i = 0; i < f.size!; i++) v = v * 256 + b[f.off + i]!;
  return v;
}

const inner = messages("Payload, first byte = kind:");

function field(msg: string, off: number): Field {
  const f = inner.get(msg)?.find((x) => x.off === off);
  if (!f) throw new Error(`docs/protocol.md: ${msg} has no field at ${off}`);
  return f;
}

/** Where the message's fixed part ends, from the page: the last field's end. */
function docSize(msg: string): number {
  const last = inner.get(msg)!.at(-1)!;
  return last.off + (last.size ?? 0);
}

describe("docs/protocol.md inner messages", () => {
  test("the page lists every kind the code sends, with the code's kind numbers", () => {
    expect([...inner.keys()].sort()).toEqual(["DATA", "DISCONNECT", "EXPRESS", "FEEDBACK", "KEEPALIVE", "LOSS", "REDUNDANT", "TRAIN"]);
    const kinds = Object.fromEntries([...inner].map(([k, f]) => [k, f[0]!.fixed]));
    expect(kinds).toEqual({ DATA: KIND_DATA, KEEPALIVE: KIND_KEEPALIVE, DISCONNECT: KIND_DISCONNECT, FEEDBACK: KIND_FEEDBACK, EXPRESS: KIND_DATA_EXPRESS, REDUNDANT: KIND_DATA_REDUNDANT, LOSS: KIND_LOSS_REPORT, TRAIN: KIND_TRAIN });
  });

  test("sizes: the fixed part of each message as the page counts it", () => {
    expect(field("DATA", DATA_PREFIX_SIZE).size).toBeUndefined(); // the packet starts right after the prefix
    expect(field("EXPRESS", EXPRESS_PREFIX_SIZE).size).toBeUndefined();
    expect(field("REDUNDANT", REDUNDANT_PREFIX_SIZE).size).toBeUndefined();
    expect(docSize("DISCONNECT")).toBe(DISCONNECT_SIZE);
    expect(docSize("KEEPALIVE")).toBe(KEEPALIVE_SIZE);
    expect(docSize("FEEDBACK")).toBe(FEEDBACK_SIZE);
  });

  test("DATA as the page describes it decodes to its sequence, and back", () => {
    const seq = 0x01_0203_0405_0607 % 2 ** 53;
    const b = new Uint8Array(DATA_PREFIX_SIZE + 3);
    b[0] = KIND_DATA;
    writeInt(b, field("DATA", 1), seq);
    expect(field("DATA", 1).text).toContain("data sequence");
    expect(dataSeq(b, 0)).toBe(seq);
    const c = new Uint8Array(DATA_PREFIX_SIZE);
    writeDataPrefix(c, 0, seq);
    expect(readInt(c, field("DATA", 1))).toBe(seq);
    expect(c[0]).toBe(KIND_DATA);
  });

  test("REDUNDANT as the page describes it: its kind, then DATA's sequence field", () => {
    const seq = 0x00_0a0b_0c0d_0e0f;
    const c = new Uint8Array(REDUNDANT_PREFIX_SIZE);
    writeRedundantPrefix(c, 0, seq);
    expect(field("REDUNDANT", 1).text).toContain("redundant sequence");
    expect(readInt(c, field("REDUNDANT", 1))).toBe(seq);
    expect(c[0]).toBe(KIND_DATA_REDUNDANT);
    expect(dataSeq(c, 0)).toBe(seq);
  });

  // Doc offset → decoded field, with the page's unit conversion.
  const keepaliveMap: [number, keyof ReturnType<typeof newKeepalive>, (raw: number) => unknown, string][] = [
    [1, "probe", (r) => (r & 1) === 1, "probe"],
    [2, "lossPercent", (r) => r / 10, "per mille"],
    [4, "clock", (r) => r, "clock"],
    [8, "echo", (r) => r, "echoed"],
    [12, "heldMs", (r) => r, "held"],
  ];

  test("KEEPALIVE as the page describes it decodes field by field, and back", () => {
    expect(inner.get("KEEPALIVE")!.slice(1).map((f) => f.off)).toEqual(keepaliveMap.map((m) => m[0]));
    const raws = [1, 123, 0x8765_4321, 0x1234_5678, 250];
    const b = new Uint8Array(KEEPALIVE_SIZE);
    b[0] = KIND_KEEPALIVE;
    keepaliveMap.forEach(([off, , , word], i) => {
      expect(field("KEEPALIVE", off).text).toContain(word);
      writeInt(b, field("KEEPALIVE", off), raws[i]!);
    });
    const k = newKeepalive();
    expect(readKeepalive(b, 0, b.length, k)).toBe(true);
    keepaliveMap.forEach(([, key, conv], i) => expect(k[key]).toBe(conv(raws[i]!) as never));
    const out = new Uint8Array(KEEPALIVE_SIZE);
    writeKeepalive(out, 0, k);
    expect(out).toEqual(b);
    // The page's "unknown" and "none" values.
    for (const off of [2, 8, 12]) writeInt(b, field("KEEPALIVE", off), 2 ** (8 * field("KEEPALIVE", off).size!) - 1);
    expect(field("KEEPALIVE", 2).text).toContain("0xFFFF unknown");
    expect(field("KEEPALIVE", 8).text).toContain("0xFFFFFFFF none");
    readKeepalive(b, 0, b.length, k);
    expect(k.lossPercent).toBeUndefined();
    expect(k.echo).toBeUndefined();
  });

  const feedbackMap: [number, keyof ReturnType<typeof newFeedback>, (raw: number) => number, string][] = [
    [2, "ackDelayMs", (r) => r / 10, "0.1 ms"],
    [4, "session", (r) => r, "session"],
    [8, "highest", (r) => r, "highest"],
    [12, "bitmapHi", (r) => r, "highest−33"],
    [16, "bitmapLo", (r) => r, "highest−1"],
    [20, "receiverClock", (r) => r, "clock"],
  ];

  test("FEEDBACK as the page describes it decodes field by field, and back", () => {
    expect(inner.get("FEEDBACK")!.slice(1).map((f) => f.off)).toEqual([1, ...feedbackMap.map((m) => m[0])]);
    const raws = [37, 0xdead_beef, 0x0102_0304, 0x8000_0001, 0x7fff_fffe, 0xffff_fff0];
    const b = new Uint8Array(FEEDBACK_SIZE);
    b[0] = KIND_FEEDBACK;
    feedbackMap.forEach(([off, , , word], i) => {
      expect(field("FEEDBACK", off).text).toContain(word);
      writeInt(b, field("FEEDBACK", off), raws[i]!);
    });
    const f = newFeedback();
    expect(readFeedback(b, 0, b.length, f)).toBe(true);
    feedbackMap.forEach(([, key, conv], i) => expect(f[key]).toBe(conv(raws[i]!)));
    const out = new Uint8Array(FEEDBACK_SIZE);
    writeFeedback(out, 0, f);
    expect(out).toEqual(b);
  });

  test("LOSS as the page describes it: its kind, then a FEEDBACK's fields (transmit.ts lossReport)", () => {
    expect(field("LOSS", 1).text).toContain("the rest of a FEEDBACK");
    const acks = new AckState();
    for (const c of [10, 11, 13]) acks.onReceive(5, c, 0, false);
    const b = new Uint8Array(FEEDBACK_SIZE);
    acks.write(b, 0, 0);
    const fb = newFeedback();
    readFeedback(b, 0, b.length, fb);
    b[0] = KIND_LOSS_REPORT;
    expect(b[0]).toBe(inner.get("LOSS")![0]!.fixed!);
    const loss = newFeedback();
    expect(readFeedback(b, 0, b.length, loss)).toBe(true);
    expect(loss).toEqual(fb);
  });

  test("FEEDBACK bitmaps: bit i of the second word is highest−1−i, of the first highest−33−i", () => {
    const acks = new AckState();
    const received = [100, 99, 97, 68, 67, 40, 37];
    for (const c of received) acks.onReceive(5, c, 0, false);
    const b = new Uint8Array(FEEDBACK_SIZE);
    acks.write(b, 0, 0);
    const highest = readInt(b, field("FEEDBACK", 8));
    const first = readInt(b, field("FEEDBACK", 12));
    const second = readInt(b, field("FEEDBACK", 16));
    // The page's own words: "bit i: highest−N−i arrived" and "counters highest−N … highest−M".
    const rule = (off: number): number => {
      const text = field("FEEDBACK", off).text;
      const bit = Number(/bit i: highest−(\d+)−i/.exec(text)?.[1]);
      const range = /counters highest−(\d+) … highest−(\d+)/.exec(text);
      expect(Number(range?.[1])).toBe(bit);
      expect(Number(range?.[2])).toBe(bit + 31);
      return bit;
    };
    const [firstFrom, secondFrom] = [rule(12), rule(16)];
    const seen: number[] = [highest];
    for (let i = 0; i < 32; i++) {
      if ((second >>> i) & 1) seen.push(highest - secondFrom - i);
      if ((first >>> i) & 1) seen.push(highest - firstFrom - i);
    }
    expect(seen.sort((x, y) => y - x)).toEqual(received);
  });
});

describe("docs/protocol.md handshake and transport header", () => {
  const hs = messages("## Handshake (per link)");
  const L = layout as unknown as Record<string, number>;
  // Doc field (message, offset) → the layout constant that names it.
  const named: [string, number, string][] = [
    ["HELLO", 4, "HELLO_NONCE_OFF"],
    ["CHALLENGE", 4, "CHALLENGE_NONCE_OFF"],
    ["CHALLENGE", 20, "CHALLENGE_COOKIE_OFF"],
    ["CHALLENGE", 36, "CHALLENGE_SALT_OFF"],
    ["INIT", 4, "INIT_SENDER_OFF"],
    ["INIT", 8, "INIT_NONCE_OFF"],
    ["INIT", 24, "INIT_COOKIE_OFF"],
    ["INIT", 40, "INIT_SHARE_OFF"],
    ["RESP", 4, "RESP_SENDER_OFF"],
    ["RESP", 8, "RESP_RECEIVER_OFF"],
    ["RESP", 12, "RESP_SHARE_OFF"],
    ["RESP", 44, "RESP_INSTANCE_OFF"],
    ["RESP", 48, "RESP_TAG_OFF"],
    ["CONFIRM", 4, "CONFIRM_RECEIVER_OFF"],
    ["CONFIRM", 8, "CONFIRM_INSTANCE_OFF"],
    ["CONFIRM", 12, "CONFIRM_TAG_OFF"],
  ];

  test("every message's size and named offsets are the page's", () => {
    expect([...hs.keys()]).toEqual(["HELLO", "CHALLENGE", "INIT", "RESP", "CONFIRM"]);
    for (const [name, fields] of hs) {
      const last = fields.at(-1)!;
      expect(`${name} ${last.off + last.size!}`).toBe(`${name} ${L[`${name}_SIZE`]}`);
      expect(fields[0]!.fixed).toBe(L[`MSG_${name}`]);
      // Contiguous: each field starts where the one before it ends.
      for (let i = 1; i < fields.length; i++) expect(`${name} ${fields[i]!.off}`).toBe(`${name} ${fields[i - 1]!.off + fields[i - 1]!.size!}`);
    }
    for (const [name, off, constant] of named) {
      expect(hs.get(name)!.some((f) => f.off === off)).toBe(true);
      expect(`${constant} ${L[constant]}`).toBe(`${constant} ${off}`);
    }
  });

  test("transport header offsets are the page's", () => {
    const at = doc.indexOf("## Transport");
    const block = doc.slice(doc.indexOf("```\n", at) + 4, doc.indexOf("```", doc.indexOf("```\n", at) + 4));
    const rows = block.split("\n").filter((l) => /^\d+\s/.test(l)).map(parseField);
    const find = (word: string) => rows.find((r) => r.text.includes(word))!;
    expect(find("receiver index").off).toBe(layout.TRANSPORT_RECEIVER_OFF);
    expect(find("counter").off).toBe(layout.TRANSPORT_COUNTER_OFF);
    expect(find("counter").size).toBe(8);
    expect(find("payload").off).toBe(layout.TRANSPORT_HEADER_SIZE);
  });
});
