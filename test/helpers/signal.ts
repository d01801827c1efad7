/**
 * Waiting on a condition without sleeping: whatever may make it true calls poke(), and until()
 * checks it again then, bounded in time (the bound is an error naming what was awaited).
 */
export class Signal {
  private waiters: Array<() => void> = [];

  /** Something changed: every pending until() checks its condition again. */
  poke(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `done()` is true at a poke (or now); rejects after `ms` with `what` in the message. */
  async until(what: string, done: () => boolean, ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (!done()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`not within ${ms} ms: ${what}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake!: () => void;
      const poked = new Promise<void>((r) => {
        wake = r;
        this.waiters.push(r);
      });
      await Promise.race([poked, new Promise<void>((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
      this.waiters = this.waiters.filter((w) => w !== wake);
    }
  }
}
