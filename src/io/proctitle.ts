/**
 * The process title (docs/c-mlvpn.md, "Process title"): `mlvpn: NAME @adsl !lte ~sat`, one mark per link in
 * config order: `@` connected, `~` lossy or slow, `!` anything else.
 *
 * Linux has no setproctitle(): `ps -o args`, `ps aux`, `top -c` and `pgrep -f` read
 * /proc/PID/cmdline, which is the memory holding the original argv strings. Bun's
 * `process.title` only changes its own copy, so, like the C MLVPN, we overwrite that memory
 * (its bounds come from /proc/self/stat) through bun:ffi. Bun copied argv at start-up and never
 * reads it again. The title cannot be longer than the original command line (the environment
 * that follows it is not ours to move), so it is cut to fit. `comm` (`ps -o comm`, `top`,
 * `pidof`, `killall`) stays the executable's name.
 */
import { readFileSync } from "node:fs";
import { type Pointer, toArrayBuffer } from "bun:ffi";
import { LinkStatus, STATUS_TEXT } from "../core/link.ts";

export interface LinkState {
  name: string;
  /** STATUS_TEXT of the link (the /status strings). */
  status: string;
}

const MARK: Record<string, string> = {
  [STATUS_TEXT[LinkStatus.AuthOk]]: "@",
  [STATUS_TEXT[LinkStatus.Lossy]]: "~",
  [STATUS_TEXT[LinkStatus.HighLatency]]: "~",
};

export function titleText(name: string, links: readonly LinkState[]): string {
  const marks = links.map((l) => `${MARK[l.status] ?? "!"}${l.name}`);
  // Printable ASCII only, as C's strnvis would show it: the title is read by terminals.
  return `mlvpn: ${[name, ...marks].filter(Boolean).join(" ")}`.replace(/[^\x20-\x7e]/g, "?");
}

/** Fields 48 and 49 of /proc/PID/stat (proc(5)): arg_start, arg_end. */
const ARG_START_FIELD = 48;

export class ProcessTitle {
  private constructor(private readonly area: Uint8Array) {}

  /** The argv area of this process, or the reason it cannot be rewritten. */
  static open(): ProcessTitle | string {
    let fields: string[];
    try {
      const stat = readFileSync("/proc/self/stat", "latin1");
      // comm (field 2) may contain spaces and parentheses: fields resume after its last ')'.
      fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    } catch (e) {
      return `cannot read /proc/self/stat: ${(e as Error).message}`;
    }
    const start = Number(fields[ARG_START_FIELD - 3]);
    const end = Number(fields[ARG_START_FIELD - 2]);
    if (!(start > 0 && end > start)) return "the kernel does not show where the command line is (/proc/self/stat)";
    return new ProcessTitle(new Uint8Array(toArrayBuffer(start as Pointer, 0, end - start)));
  }

  /** Room for the title, in bytes (the length of the original command line, less its last NUL). */
  get capacity(): number {
    return this.area.length - 1;
  }

  set(text: string): void {
    const bytes = new TextEncoder().encode(text).subarray(0, this.capacity);
    this.area.fill(0);
    this.area.set(bytes);
  }
}
