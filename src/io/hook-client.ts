/**
 * The daemon's side of the root hook helper (hook-helper.ts): starts it while still root and
 * offers HookRunner's interface (run, idle), so the daemon does not care where scripts run.
 * run() only queues a line on the pipe: the data path never waits for a script.
 */
import type { Subprocess } from "bun";
import type { Logger } from "../log.ts";
import { type HookHelperArgs, helperArgv } from "./hook-helper.ts";
import { eventRequest, HOOK_HELPER_FLAG, type HookReply, parseReply, readLines } from "./hook-protocol.ts";
import { SAFE_PATH } from "./hooks.ts";

/** How long the helper may take to start and read the configuration. */
const READY_TIMEOUT_MS = 15_000;
/** A reload reply carries the configuration (≤ 1 MiB) in base64. */
const MAX_REPLY_BYTES = 2 << 20;

type Reply = Extract<HookReply, { text: string }>;

export class HookHelperClient {
  private readonly pending: Array<(r: Reply | undefined) => void> = [];
  private waiters: Array<() => void> = [];
  private gone = false;
  private closing = false;

  private constructor(
    private readonly proc: Subprocess<"pipe", "pipe", "inherit">,
    private readonly log: Logger,
  ) {}

  /**
   * Spawns the helper and waits for it to have read the configuration. Throws a one-line Error.
   * The helper is this same program: `command` starts it (the entry point knows how: see
   * selfCommand in src/main.ts).
   */
  static async start(command: readonly string[], args: HookHelperArgs, log: Logger): Promise<HookHelperClient> {
    const proc = Bun.spawn([...command, HOOK_HELPER_FLAG, ...helperArgv(args)], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
      env: { PATH: SAFE_PATH },
      cwd: "/",
    });
    const client = new HookHelperClient(proc, log);
    const ready = client.listen();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => (timer = setTimeout(r, READY_TIMEOUT_MS, "timeout")));
    const outcome = await Promise.race([ready, timeout]);
    clearTimeout(timer);
    if (outcome !== true) {
      proc.kill("SIGKILL");
      const why = outcome === "timeout" ? `not ready after ${READY_TIMEOUT_MS / 1000} s` : `exited with status ${await proc.exited}`;
      throw new Error(`cannot start the status-script helper: ${why}`);
    }
    return client;
  }

  /** Queues one script run; `args` as for HookRunner: `[device, event, link?]`. */
  run(args: string[]): void {
    const what = `statuscommand ${args.slice(1).join(" ")}`;
    void this.request(eventRequest(args)).then((r) => {
      if (r?.kind === "refused") this.log.warn("", `${what}: refused by the hook helper: ${r.text}`);
      else if (!r) this.log.warn("", `${what}: not run, the hook helper has exited`);
    });
  }

  /** Resolves when every request sent so far has been answered. */
  idle(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Has the helper re-read the configuration (its links and variables); resolves with the file's text. */
  /** The file's text, and whether the helper found it valid and now uses it. */
  async reload(): Promise<{ text: string; valid: boolean }> {
    const r = await this.request("R");
    if (r?.kind === "reloaded" || r?.kind === "invalid") return { text: Buffer.from(r.text, "base64").toString("utf8"), valid: r.kind === "reloaded" };
    throw new Error(r ? r.text : "the hook helper has exited");
  }

  /** Closes the pipe, which ends the helper once its current script is done. */
  close(): void {
    this.closing = true;
    if (!this.gone) void this.proc.stdin.end();
  }

  private request(line: string): Promise<Reply | undefined> {
    if (this.gone) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.pending.push(resolve);
      try {
        this.proc.stdin.write(`${line}\n`);
        // A helper that died meanwhile is reported by listen(); the write error adds nothing.
        void Promise.resolve(this.proc.stdin.flush()).catch(() => {});
      } catch {
        // Same: the pipe is closed, listen() answers every pending request when it sees the end.
      }
    });
  }

  private answer(r: Reply | undefined): void {
    this.pending.shift()?.(r);
    if (this.pending.length === 0) for (const w of this.waiters.splice(0)) w();
  }

  /** Reads replies until the helper exits; resolves true on `ready`, false if it exits first. */
  private listen(): Promise<boolean> {
    let onReady!: (ok: boolean) => void;
    const ready = new Promise<boolean>((r) => (onReady = r));
    void (async () => {
      try {
        for await (const item of readLines(this.proc.stdout, MAX_REPLY_BYTES)) {
          const reply = "line" in item ? parseReply(item.line) : undefined;
          if (!reply) this.log.warn("", "hook helper: unreadable reply ignored");
          else if (reply.kind === "ready") onReady(true);
          else if (reply.kind === "log") this.log[reply.level]("", reply.message);
          else this.answer(reply);
        }
      } catch (e) {
        this.log.error("", `reading from the status-script helper failed: ${(e as Error).message}`);
      }
      this.gone = true;
      onReady(false);
      if (!this.closing) this.log.error("", "the status-script helper has exited: status scripts no longer run");
      while (this.pending.length > 0) this.answer(undefined);
    })();
    return ready;
  }
}
