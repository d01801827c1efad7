/** The hook helper's request/reply lines: only "run event E for link L" or "reload" get through. */
import { describe, expect, test } from "bun:test";
import { eventRequest, MAX_REQUEST_BYTES, parseReply, parseRequest, readLines, replyLine } from "../../src/io/hook-protocol.ts";

const LINKS = new Set(["adsl1", "lte link"]);

describe("parseRequest", () => {
  test("the four events, with a known link for rtun_* and none for tuntap_*", () => {
    expect(parseRequest("E rtun_up adsl1", LINKS)).toEqual({ kind: "event", event: "rtun_up", link: "adsl1" });
    expect(parseRequest("E rtun_down lte link", LINKS)).toEqual({ kind: "event", event: "rtun_down", link: "lte link" });
    expect(parseRequest("E tuntap_up", LINKS)).toEqual({ kind: "event", event: "tuntap_up" });
    expect(parseRequest("E tuntap_down", LINKS)).toEqual({ kind: "event", event: "tuntap_down" });
    expect(parseRequest("R", LINKS)).toEqual({ kind: "reload" });
  });

  test.each([
    ["E rtun_up adsl9", 'rtun_up: no link "adsl9" in the configuration'],
    ["E rtun_up", "rtun_up needs a link name"],
    ["E tuntap_up adsl1", 'tuntap_up takes no link (got "adsl1")'],
    ["E run_anything adsl1", 'unknown event "run_anything"'],
    ["E rtun_up ../../bin/sh", 'rtun_up: no link "../../bin/sh" in the configuration'],
    ["E rtun_up adsl1\u0000LD_PRELOAD=/tmp/x.so", 'control characters in request "E rtun_up adsl1\\u0000LD_PRELOAD=/tmp/x.so"'],
    ["X /bin/sh -c id", 'malformed request "X /bin/sh -c id"'],
    ["E  rtun_up adsl1", 'malformed request "E  rtun_up adsl1"'],
    ["", 'malformed request ""'],
    ["r", 'malformed request "r"'],
    [`E rtun_up ${"a".repeat(MAX_REQUEST_BYTES)}`, `request longer than ${MAX_REQUEST_BYTES} bytes`],
  ])("%j is refused: %s", (line, reason) => {
    expect(parseRequest(line, LINKS)).toEqual({ kind: "refused", reason });
  });

  test("requests built from HookRunner arguments parse back to the same event (the device is not sent)", () => {
    expect(eventRequest(["mlvpn0", "rtun_up", "lte link"])).toBe("E rtun_up lte link");
    expect(eventRequest(["mlvpn0", "tuntap_down"])).toBe("E tuntap_down");
    expect(parseRequest(eventRequest(["mlvpn0", "rtun_down", "adsl1"]), LINKS)).toEqual({ kind: "event", event: "rtun_down", link: "adsl1" });
  });
});

describe("replies", () => {
  test("round trip; newlines cannot break the framing; unknown kinds and levels are not replies", () => {
    expect(replyLine("done", "exit 0")).toBe("done exit 0\n");
    expect(replyLine("ready")).toBe("ready\n");
    expect(parseReply(replyLine("log", "warn statuscommand x: exit 3\nforged line").trimEnd())).toEqual({ kind: "log", level: "warn", message: "statuscommand x: exit 3 forged line" });
    expect(parseReply("refused unknown event")).toEqual({ kind: "refused", text: "unknown event" });
    expect(parseReply("ready")).toEqual({ kind: "ready" });
    expect(parseReply("log shout hello")).toBeUndefined();
    expect(parseReply("exec /bin/sh")).toBeUndefined();
  });
});

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const s of chunks) c.enqueue(new TextEncoder().encode(s));
      c.close();
    },
  });
}

async function collect(chunks: string[], max: number) {
  const out = [];
  for await (const item of readLines(streamOf(chunks), max)) out.push(item);
  return out;
}

describe("readLines", () => {
  test("lines split across chunks and several lines in one chunk", async () => {
    expect(await collect(["E rtun", "_up a\nE tuntap_up\nR", "\n"], 16)).toEqual([{ line: "E rtun_up a" }, { line: "E tuntap_up" }, { line: "R" }]);
  });

  test("an over-long line is reported once and skipped up to its newline; the next line is read", async () => {
    expect(await collect(["0123456789", "0123456789", "01234\nR\n"], 8)).toEqual([{ tooLong: 10 }, { line: "R" }]);
    expect(await collect(["0123456789\nR\n"], 8)).toEqual([{ tooLong: 10 }, { line: "R" }]);
  });

  test("an unterminated last line is not a request", async () => {
    expect(await collect(["R\nE tuntap_up"], 64)).toEqual([{ line: "R" }]);
  });
});
