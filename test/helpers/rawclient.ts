/**
 * A raw stream client for control-interface tests: connects to a Unix socket or TCP port, sends
 * chunks (optionally spaced in time), and collects everything until the server closes or a time
 * limit passes.
 */
export type Target = { unix: string } | { hostname: string; port: number };

export interface Talk {
  text: string;
  /** The server closed the connection (false: we gave up at the time limit). */
  closedByServer: boolean;
  /** From connect to close (or to the time limit). */
  ms: number;
}

export async function talk(target: Target, chunks: Array<string | Uint8Array>, o: { gapMs?: number; timeoutMs?: number; read?: boolean } = {}): Promise<Talk> {
  const started = performance.now();
  const parts: Buffer[] = [];
  let closedByServer = false;
  let stopped = false;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const socket = await Bun.connect({
    ...target,
    socket: {
      data(_s, d) {
        if (o.read !== false) parts.push(Buffer.from(d));
      },
      close() {
        closedByServer = true;
        done();
      },
      error() {
        closedByServer = true;
        done();
      },
    },
  } as Parameters<typeof Bun.connect>[0]);
  const sending = (async () => {
    for (const c of chunks) {
      if (closedByServer || stopped) return;
      socket.write(c);
      if (o.gapMs) await Bun.sleep(o.gapMs);
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([finished, new Promise<void>((r) => (timer = setTimeout(r, o.timeoutMs ?? 5000)))]);
  clearTimeout(timer);
  const ms = performance.now() - started;
  stopped = true;
  if (!closedByServer) socket.terminate();
  await sending;
  return { text: Buffer.concat(parts).toString("utf8"), closedByServer, ms };
}

/** Splits an HTTP response into status code, lower-cased headers and body. */
export function parseHttp(text: string): { status: number; headers: Record<string, string>; body: string } {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1]);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers, body: text.slice(end + 4) };
}
