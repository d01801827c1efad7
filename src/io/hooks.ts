/**
 * Runs the user's statuscommand on tunnel events, exactly with the C MLVPN's arguments and
 * environment (docs/c-mlvpn.md, "Hooks"): `SCRIPT DEVICE rtun_up|rtun_down LINK` and
 * `SCRIPT DEVICE tuntap_up|tuntap_down`, with IP4, IP6, IP4_GATEWAY, IP6_GATEWAY, IP4_ROUTES,
 * IP6_ROUTES, DEVICE and MTU set.
 *
 * Unlike C, scripts run asynchronously (never blocking packets), one at a time in event order,
 * with a clean environment and a time limit; the exit status is logged, and so is what the
 * script prints (never passed through: in the root hook helper stdout is the reply channel).
 */
import { type Config, DEFAULT_SCRIPT_MTU } from "../config/schema.ts";
import type { Logger } from "../log.ts";

/** A status script may take this long before it is killed. */
export const HOOK_TIMEOUT_MS = 30_000;
export const SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Of a script's output, this much is logged (the rest is read and discarded). */
const MAX_OUTPUT_BYTES = 4096;
const MAX_OUTPUT_LINES = 20;
/** After the script exits, its output is awaited this long (a child it left behind may hold the pipe). */
const OUTPUT_GRACE_MS = 200;

/** Reads a stream to its end, keeping the first MAX_OUTPUT_BYTES; resolves with its lines, made printable. */
async function outputLines(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const kept: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size < MAX_OUTPUT_BYTES) kept.push(value.subarray(0, MAX_OUTPUT_BYTES - size));
    size += value.length;
  }
  const text = Buffer.concat(kept).toString("utf8");
  const lines = text.split("\n").map((l) => l.replace(/[\u0000-\u001f\u007f]/g, "?").trimEnd()).filter((l) => l.length > 0);
  if (size > MAX_OUTPUT_BYTES) lines.push(`… (${size - MAX_OUTPUT_BYTES} more bytes not shown)`);
  return lines.slice(0, MAX_OUTPUT_LINES);
}

/** The eight variables of docs/c-mlvpn.md ("Hooks"), from the configuration and the opened tun device. */
export function hookEnv(g: Config["general"], device: string, tunMtu: number): Record<string, string> {
  return {
    IP4: g.ip4 ?? "",
    IP6: g.ip6 ?? "",
    IP4_GATEWAY: g.ip4_gateway ?? "",
    IP6_GATEWAY: g.ip6_gateway ?? "",
    IP4_ROUTES: g.ip4_routes ?? "",
    IP6_ROUTES: g.ip6_routes ?? "",
    DEVICE: device,
    MTU: String(g.mtu ?? (tunMtu || DEFAULT_SCRIPT_MTU)),
  };
}

export class HookRunner {
  private readonly queue: string[][] = [];
  private running = false;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly script: string | undefined,
    private readonly env: Record<string, string>,
    private readonly log: Logger,
    private readonly timeoutMs = HOOK_TIMEOUT_MS,
  ) {}

  /** Queues one run; `args` are the arguments after the script path. */
  run(args: string[]): void {
    if (!this.script) return;
    this.queue.push(args);
    if (!this.running) void this.drain();
  }

  /** Resolves when every queued run has finished. */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async drain(): Promise<void> {
    this.running = true;
    for (let args = this.queue.shift(); args; args = this.queue.shift()) await this.runNow(args);
    this.running = false;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Runs the script once, bypassing the queue (the hook helper serializes by itself); returns the outcome as logged. */
  async runNow(args: string[]): Promise<string> {
    const script = this.script;
    if (!script) return "no statuscommand";
    const what = `statuscommand ${args.slice(1).join(" ")}`;
    const started = performance.now();
    try {
      const proc = Bun.spawn([script, ...args], {
        env: { PATH: SAFE_PATH, ...this.env },
        cwd: "/",
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const output = Promise.all([outputLines(proc.stdout), outputLines(proc.stderr)]);
      const timer = setTimeout(() => {
        this.log.warn("", `${what}: still running after ${this.timeoutMs / 1000} s, killed`);
        proc.kill("SIGKILL");
      }, this.timeoutMs);
      const code = await proc.exited;
      clearTimeout(timer);
      const [out, err] = await Promise.race([output, Bun.sleep(OUTPUT_GRACE_MS).then(() => [[], []] as string[][])]);
      for (const line of out!) this.log.info("", `${what}: ${line}`);
      for (const line of err!) this.log.warn("", `${what}: ${line}`);
      const ms = Math.round(performance.now() - started);
      const outcome = code === null ? `signal ${proc.signalCode}` : `exit ${code}`;
      if (code === 0) this.log.info("", `${what}: ${outcome} (${ms} ms)`);
      else this.log.warn("", `${what}: ${outcome} (${ms} ms)`);
      return outcome;
    } catch (e) {
      this.log.warn("", `${what}: cannot run ${script}: ${(e as Error).message}`);
      return "cannot run";
    }
  }
}
