/**
 * Runs the user's statuscommand on tunnel events, exactly with the C MLVPN's arguments and
 * environment (reference §8): `SCRIPT DEVICE rtun_up|rtun_down LINK` and
 * `SCRIPT DEVICE tuntap_up|tuntap_down`, with IP4, IP6, IP4_GATEWAY, IP6_GATEWAY, IP4_ROUTES,
 * IP6_ROUTES, DEVICE and MTU set.
 *
 * Unlike C, scripts run asynchronously (never blocking packets), one at a time in event order,
 * with a clean environment and a time limit; the exit status is logged.
 */
import type { Logger } from "../log.ts";

/** A status script may take this long before it is killed. */
export const HOOK_TIMEOUT_MS = 30_000;
const SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    for (let args = this.queue.shift(); args; args = this.queue.shift()) await this.runOne(args);
    this.running = false;
    for (const w of this.waiters.splice(0)) w();
  }

  private async runOne(args: string[]): Promise<void> {
    const script = this.script!;
    const what = `statuscommand ${args.slice(1).join(" ")}`;
    const started = performance.now();
    try {
      const proc = Bun.spawn([script, ...args], {
        env: { PATH: SAFE_PATH, ...this.env },
        cwd: "/",
        stdin: "ignore",
        stdout: "inherit",
        stderr: "inherit",
      });
      const timer = setTimeout(() => {
        this.log.warn("", `${what}: still running after ${this.timeoutMs / 1000} s, killed`);
        proc.kill("SIGKILL");
      }, this.timeoutMs);
      const code = await proc.exited;
      clearTimeout(timer);
      const ms = Math.round(performance.now() - started);
      if (code === 0) this.log.info("", `${what}: exit 0 (${ms} ms)`);
      else this.log.warn("", `${what}: exit ${code ?? `signal ${proc.signalCode}`} (${ms} ms)`);
    } catch (e) {
      this.log.warn("", `${what}: cannot run ${script}: ${(e as Error).message}`);
    }
  }
}
