/**
 * Which link carries the next packet from the tun: MLVPN's weighted round-robin
 * (reference §6.3), by bytes rather than packets so that large and small packets share
 * bandwidth_upload fairly. Each eligible link has a virtual clock that advances by
 * bytes / weight; the link with the earliest clock goes next. Weights are the links'
 * bandwidth_upload when every link sets one, else equal (as in C).
 *
 * A policy behind a narrow interface so that the capacity-aware scheduler can replace it.
 */
export interface Scheduler {
  /** The links that may carry traffic now (indices into the tunnel's links), in config order. */
  setEligible(links: readonly number[]): void;
  /** Link for a packet of `bytes`, or -1 when none is eligible. */
  pick(bytes: number): number;
}

export class WeightedRoundRobin implements Scheduler {
  private eligible: number[] = [];
  private readonly clock: Float64Array;

  constructor(private readonly weights: readonly number[]) {
    this.clock = new Float64Array(weights.length);
  }

  setEligible(links: readonly number[]): void {
    // A link that joins starts level with the others, so it gets no burst of saved credit.
    let base = Number.POSITIVE_INFINITY;
    for (const i of this.eligible) if (links.includes(i)) base = Math.min(base, this.clock[i]!);
    if (!Number.isFinite(base)) base = 0;
    for (const i of links) if (!this.eligible.includes(i)) this.clock[i] = base;
    this.eligible = [...links];
  }

  pick(bytes: number): number {
    const e = this.eligible;
    if (e.length === 0) return -1;
    let best = e[0]!;
    for (let k = 1; k < e.length; k++) if (this.clock[e[k]!]! < this.clock[best]!) best = e[k]!;
    this.clock[best]! += bytes / this.weights[best]!;
    return best;
  }
}

/** MLVPN's rule: shares by bandwidth_upload only when every link sets it, else equal. */
export function weightsFor(bandwidths: readonly number[]): number[] {
  return bandwidths.every((b) => b > 0) ? [...bandwidths] : bandwidths.map(() => 1);
}
