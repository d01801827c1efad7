/**
 * A reload that gives a link a new socket on the SAME port (e.g. a new `socket_buffer`): the old
 * socket is closed and the new one bound at once. The poll thread (src/io/tun-poll-worker.ts)
 * may still be inside poll() on the old fd; the kernel keeps that socket, and its port, until
 * poll() returns, so the new bind found the port in use (EADDRINUSE) and the link was gone until
 * the next reload (seen on 5 reloads of 5 of an idle server). Real UDP on 127.0.0.1, a fake
 * tun, no root.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { startDaemon } from "../../src/daemon.ts";
import type { Ports } from "../../src/io/driver.ts";
import type { TunOptions } from "../../src/io/tun.ts";
import { type LinkSocket, openLinkSocket } from "../../src/io/udp.ts";
import { createLogger } from "../../src/log.ts";
import { FakeTun } from "../helpers/fake-tun.ts";
import { tempDir, writeConfig } from "../helpers/run.ts";
import { Signal } from "../helpers/signal.ts";

const RELOADS = 8;
const { dir, cleanup } = tempDir("mlvpn-reload-same-port-");
afterAll(cleanup);

describe("reload on the same port", () => {
  test("every reload that re-opens a link's socket on its port binds it again", async () => {
    const probe = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
    const port = probe.port;
    probe.close();
    // Each reload changes the socket buffer: a new socket on the same port (src/config/diff.ts).
    const text = (r: number) => `[general]\nmode = "server"\npassword = "same port"\n\n[wan]\nbindhost = "127.0.0.1"\nbindport = ${port}\nsocket_buffer = ${65536 + r * 4096}\n`;
    const file = writeConfig(dir, "server.conf", text(0));
    const load = () => {
      const loaded = loadConfig(file);
      if (!loaded.config) throw new Error(loaded.diagnostics.map((d) => d.message).join("; "));
      return loaded.config;
    };
    const opened: LinkSocket[] = [];
    const errors: string[] = [];
    const ports: Partial<Ports> = {
      tun: { open: (o: TunOptions) => new FakeTun(o, new Signal()) },
      sockets: {
        async open(o) {
          const s = await openLinkSocket(o);
          opened.push(s);
          return s;
        },
      },
    };
    const status = { ready() {}, changed() {}, stopping() {}, reloading() {}, reloaded() {} };
    const log = createLogger({ verbosity: 0, debugTokens: [], write: (line: string) => void (/ERR|bind|reload/i.test(line) && errors.push(line)), repeatWindowMs: 0 });
    const daemon = await startDaemon(load(), { name: "reload-same-port", user: "nobody", yesRunAsRoot: true, selfCommand: [], service: status, ports }, log);
    try {
      for (let r = 1; r <= RELOADS; r++) {
        // Idle between reloads: the poll thread is asleep in poll() on the socket when it closes.
        await Bun.sleep(300);
        writeConfig(dir, "server.conf", text(r));
        await daemon.reload(load());
      }
      const s = daemon.status();
      expect(errors).toEqual([]);
      expect(s.reloads_applied).toBe(RELOADS);
      // One socket per reload, each on the configured port.
      expect(opened.length).toBe(RELOADS + 1);
      expect(opened.every((o) => o.localPort === port)).toBe(true);
    } finally {
      await daemon.stop();
    }
  }, 60_000);
});
