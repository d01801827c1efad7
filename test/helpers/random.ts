/** Deterministic randomness for tests: a failing random case can be replayed from its seed. */
import type { Random } from "../../src/core/tunnel.ts";

/** xorshift32: tiny, seeded, good enough for tests. */
export class SeededRandom implements Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  fill(buf: Uint8Array): void {
    for (let i = 0; i < buf.length; i++) buf[i] = this.next() & 0xff;
  }
}

/** A seeded generator of floats in [0, 1). */
export function xorshift(seed: number): () => number {
  const r = new SeededRandom(seed);
  return () => r.float();
}

/** A seeded source of the shapes fuzz tests draw from (integers, chances, picks, log-uniform values). */
export class Rng {
  private readonly r: SeededRandom;
  constructor(seed: number) {
    this.r = new SeededRandom(seed);
  }
  float(): number {
    return this.r.float();
  }
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  /** Log-uniform in [lo, hi]: each order of magnitude as likely as the next. */
  log(lo: number, hi: number): number {
    return lo * Math.pow(hi / lo, this.float());
  }
}
