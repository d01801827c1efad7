/**
 * The link key socket_buffer: read from the file (a bad value named with its line), a change
 * rebinds the link, and the socket really gets that buffer (the kernel reports it in `ss -m` as
 * rb/tb, twice the value asked for: it counts its bookkeeping in).
 */
import { afterEach, expect, test } from "bun:test";
import { diffConfig } from "../../src/config/diff.ts";
import { Diagnostics } from "../../src/config/diagnostics.ts";
import { parseIni } from "../../src/config/ini.ts";
import { toConfig } from "../../src/config/schema.ts";
import { type LinkSocket, openLinkSocket } from "../../src/io/udp.ts";
import { reportSkip } from "../helpers/skip.ts";

function ini(extra: string): { config: ReturnType<typeof toConfig>; errors: string[] } {
  const diags = new Diagnostics("test.conf");
  const text = `[general]\nmode = "client"\npassword = "secret"\n\n[adsl1]\nremotehost = "203.0.113.1"\nremoteport = 5080\n${extra}\n`;
  const config = toConfig(parseIni(text, diags), "test.conf", "ini", diags);
  return { config, errors: diags.list.filter((d) => d.severity === "error").map((d) => `${d.line}: ${d.message}`) };
}

test("socket_buffer is read per link; unset, the socket keeps the built-in 4 MiB", () => {
  expect(ini("socket_buffer = 65536").config!.links[0]!.socket_buffer).toBe(65536);
  expect(ini("").config!.links[0]!.socket_buffer).toBeUndefined();
});

test("a socket_buffer out of range is an error on its line", () => {
  const { errors } = ini("socket_buffer = 100");
  expect(errors).toHaveLength(1);
  expect(errors[0]).toBe("8: socket_buffer = 100: must be between 4096 and 67108864");
});

test("a changed socket_buffer rebinds the link (a new socket gets it)", () => {
  const d = diffConfig(ini("").config!, ini("socket_buffer = 65536").config!);
  expect(d.rebound.map((c) => c.name)).toEqual(["adsl1"]);
});

const open: LinkSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** rb and tb of the UDP socket on 127.0.0.1:port, from `ss -uamn`. */
function buffers(port: number): { rb: number; tb: number } | null {
  const out = Bun.spawnSync(["ss", "-uamnH", `sport = :${port}`]).stdout.toString();
  const m = /rb(\d+),t(\d+),tb(\d+)/.exec(out);
  return m ? { rb: Number(m[1]), tb: Number(m[3]) } : null;
}

test.skipIf(reportSkip(import.meta.file, "the buffer read back with ss", Bun.which("ss") ? null : "no ss (Debian: iproute2)"))("the socket gets the buffer asked for (ss -m: twice the value)", async () => {
  for (const bytes of [16384, 65536]) {
    const s = await openLinkSocket({ hostname: "127.0.0.1", port: 0, bufferBytes: bytes, onDatagram() {}, afterDatagrams() {} });
    open.push(s);
    expect(buffers(s.localPort)).toEqual({ rb: 2 * bytes, tb: 2 * bytes });
  }
});
