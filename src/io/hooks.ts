/**
 * Runs the user's statuscommand on tunnel events, exactly with the C MLVPN's arguments and
 * environment (reference §8): `SCRIPT DEVICE rtun_up|rtun_down LINK` and
 * `SCRIPT DEVICE tuntap_up|tuntap_down`, with IP4, IP6, IP4_GATEWAY, IP6_GATEWAY, IP4_ROUTES,
 * IP6_ROUTES, DEVICE and MTU set.
 *
 * Unlike C, scripts run asynchronously (never blocking packets), one at a time in event order,
 * with a clean environment and a time limit; the exit status is logged.
 */
import { type Config, DEFAULT_SCRIPT_MTU } from "../config/schema.ts";
import type { Logger } from "../log.ts";

/** A status script may take this long before it is killed. */
export const HOOK_TIMEOUT_MS = 30_000;
export const SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The eight variables of reference §8, from the configuration and the opened tun device. */
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
