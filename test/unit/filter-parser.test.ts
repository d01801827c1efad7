/**
 * The filter compiler on its own: error messages with their positions, the normalized form
 * `--check` shows, and a fuzz of token soups and mutated expressions (never an exception other
 * than FilterError, always a position inside the expression, and the matcher never throws).
 */
import { describe, expect, test } from "bun:test";
import { compileFilter, FilterError } from "../../src/filter/index.ts";
import { FilterGen, VOCABULARY } from "../helpers/filter-gen.ts";
import { rawCorpus, etherCorpus } from "../helpers/packets.ts";

function errorOf(expression: string, linktype: "raw" | "ether" = "raw"): FilterError {
  try {
    compileFilter(expression, linktype);
  } catch (e) {
    if (e instanceof FilterError) return e;
    throw e;
  }
  throw new Error(`${expression} compiled`);
}

describe("filter errors name the offending token and its column", () => {
  test.each([
    ["udp prot 5060", 'syntax error at column 5 ("prot")'],
    ["tcp port 22 or", "at the end of the expression"],
    ["port 70000", 'illegal port number 70000 > 65535 at column 6 ("70000")'],
    ["host example.com", "host names are not supported"],
    ["port http", "write the port number"],
    ["net 10.0.0.1/8", 'non-network bits set in "10.0.0.1/8"'],
    ["ip[0:3] = 1", 'data size must be 1, 2, or 4 at column 6 ("3")'],
    ["ip[0] / 0 = 1", 'division by zero at column 7 ("/")'],
    ["ether host 00:11:22:33:44:55", "no link-layer header in tun mode"],
    ["arp", "no link-layer header in tun mode"],
    ["vlan 10", "'vlan' is not supported by mlvpn's filters"],
    ["tcp and ip and 1 = 2", "expression rejects all packets"],
    ["len-1 > 0", 'syntax error at column 1 ("len-1")'],
    ["ip proto \\nope", 'unknown ip proto "nope"'],
    ["host 1.2.3.4 é", 'unexpected character at column 14 ("é")'],
  ])("%s", (expression, message) => {
    expect(errorOf(expression).describe()).toContain(message);
  });

  test("link-layer primitives are fine on Ethernet (tap)", () => {
    expect(() => compileFilter("ether host 00:11:22:33:44:55 or arp", "ether")).not.toThrow();
    expect(errorOf("ether proto 0x800 and vlan", "ether").message).toContain("vlan");
  });
});

describe("normalized form (what --check prints)", () => {
  test.each([
    ["tcp port 22 or 80", "tcp port 22 or tcp port 80"],
    ["host 1.2.3.4 or 5.6.7.8", "host 1.2.3.4 or host 5.6.7.8"],
    ["port 53 and not src net 10.0.0.0/8", "port 53 and not src net 10.0.0.0/8"],
    ["udp   port\t5060", "udp port 5060"],
    ["tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[tcpflags] & (tcp-syn | tcp-ack) != 0"],
    ["host 1.2.3.4 and (tcp) or 5.6.7.8", "(host 1.2.3.4 and tcp) or host 5.6.7.8"],
    ["1 + 2 % 3 * 4 = ip[0]", "1 + (2 % (3 * 4)) = ip[0]"],
    ["a or b".replace("a", "tcp").replace("b", "udp and icmp"), "(tcp or udp) and icmp"],
    ["src or dst port 5 and not 6", "src or dst port 5 and not src or dst port 6"],
  ])("%s → %s", (expression, normalized) => {
    expect(compileFilter(expression, "raw").normalized).toBe(normalized);
    // The normalized form means the same.
    expect(compileFilter(normalized, "raw").normalized).toBe(normalized);
  });
});

describe("fuzz: never a stack trace", () => {
  const packets = [...rawCorpus(3).slice(0, 40), ...etherCorpus(5).slice(0, 10)];

  function check(expression: string): "ok" | "error" {
    let f;
    try {
      f = compileFilter(expression, "raw");
    } catch (e) {
      if (!(e instanceof FilterError)) throw new Error(`${JSON.stringify(expression)}: ${(e as Error).stack}`);
      expect(e.pos).toBeGreaterThanOrEqual(0);
      expect(e.pos).toBeLessThanOrEqual(expression.length);
      expect(e.describe()).not.toContain("undefined");
      return "error";
    }
    for (const p of packets) f.match(p.data, p.data.length, p.length);
    return "ok";
  }

  test("4000 token soups", () => {
    const g = new FilterGen(99);
    const outcomes = { ok: 0, error: 0 };
    for (let i = 0; i < 4000; i++) {
      const n = 1 + (g.r.next() % 8);
      const words = Array.from({ length: n }, () => g.pick(VOCABULARY));
      outcomes[check(words.join(g.pick([" ", "", " "])))]++;
    }
    // Both paths are exercised.
    expect(outcomes.ok).toBeGreaterThan(50);
    expect(outcomes.error).toBeGreaterThan(1000);
  }, 120_000);

  test("3000 mutations of valid expressions (characters dropped, doubled, replaced)", () => {
    const g = new FilterGen(1234);
    const alphabet = "()[]:!&|^<>=-+*/% 0123456789abcdefx.:\\$\"#";
    let compiled = 0;
    for (let i = 0; i < 3000; i++) {
      const base = g.expr();
      // A generated expression parses, though it may be constant false (`not 0 <= 0 % 1`) or
      // divide by zero (`ip[0] % (6 >> 6)`), as tcpdump says too.
      if (check(base) === "error") expect({ base, message: errorOf(base).message }).toMatchObject({ base, message: expect.stringMatching(/^(expression rejects all packets|modulus by zero|division by zero|shift by more than 31 bits)$/) });
      let s = base;
      const edits = 1 + (g.r.next() % 3);
      for (let k = 0; k < edits; k++) {
        const at = g.r.next() % (s.length + 1);
        const what = g.r.next() % 3;
        if (what === 0) s = s.slice(0, at) + s.slice(at + 1);
        else if (what === 1) s = s.slice(0, at) + s.slice(at, at + 1) + s.slice(at);
        else s = s.slice(0, at) + alphabet[g.r.next() % alphabet.length] + s.slice(at + 1);
      }
      if (check(s) === "ok") compiled++;
    }
    expect(compiled).toBeGreaterThan(100);
  }, 120_000);

  test("deep nesting and huge expressions are errors, not stack overflows", () => {
    expect(check(`${"(".repeat(90)}tcp${")".repeat(90)}`)).toBe("ok");
    expect(errorOf(`${"(".repeat(900)}tcp${")".repeat(900)}`).message).toContain("nested too deeply");
    expect(errorOf(`${"not ".repeat(1500)}tcp`).message).toContain("nested too deeply");
    expect(errorOf(`ip[${"ip[".repeat(500)}0${"]".repeat(500)}] = 1`).message).toContain("nested too deeply");
    expect(errorOf(Array(3000).fill("tcp").join(" or ")).message).toContain("too long");
    expect(check(Array(900).fill("tcp").join(" or "))).toBe("ok");
  });
});
