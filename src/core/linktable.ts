/**
 * The tunnel's links: every slot ever created, the ones in use in configuration order, the
 * ones chosen to carry data, and the `[filters]` resolved against them. A reload adds, removes,
 * reconfigures and reorders links here; indices stay stable (a removed link's slot is never
 * used again; an added one takes a new slot at the end), because indices are what events, the
 * shell's sockets and the scheduler hold. A removed link's slot keeps only its name: the link
 * itself (its sender's packet store, megabytes) is let go, or every reload that gives a link
 * a new socket would keep one more.
 */
import type { LinkConfig } from "../config/schema.ts";
import { type FilterRules, FilterTable } from "./filters.ts";
import { Link } from "./link.ts";
import { chooseCarriers } from "./policy.ts";
import { type Random, randomU32 } from "./ports.ts";

export class LinkTable {
  /** The links by index; undefined once removed. */
  private readonly slots: Array<Link | undefined>;
  /** Removed links still receiving until their peer has seen the DISCONNECT (departure.ts), by index. */
  private readonly leaving: Array<Link | undefined> = [];
  /** The section name of every slot, removed ones included. */
  private readonly names: string[];
  private live: Link[];
  private readonly filters = new FilterTable();
  private eligible: number[] = [];
  private carriers: Link[] = [];
  /** Refilled on each call of `active()` (its callers only iterate it): no array per timer. */
  private readonly activeList: Link[] = [];

  constructor(
    configs: readonly LinkConfig[],
    private readonly maxPacketSize: number,
    nowMs: number,
    filters: FilterRules | undefined,
  ) {
    this.slots = configs.map((c, i) => new Link(i, c, maxPacketSize, nowMs));
    this.live = [...this.slots] as Link[];
    this.names = configs.map((c) => c.name);
    if (filters) this.filters.setRules(filters, this.live);
  }

  /** The links in use, in configuration order. */
  get links(): readonly Link[] {
    return this.live;
  }

  /** A link in use by index; undefined for an unknown or removed one. */
  at(index: number): Link | undefined {
    const link = this.slots[index];
    return link && !link.retired ? link : undefined;
  }

  /** The section name of any link ever created (events of a link being removed still name it). */
  nameOf(index: number): string {
    return this.names[index] ?? `#${index}`;
  }

  /** A new link, last in order. */
  add(config: LinkConfig, nowMs: number): Link {
    const link = new Link(this.slots.length, config, this.maxPacketSize, nowMs);
    this.slots.push(link);
    this.names.push(link.name);
    this.live.push(link);
    this.filters.resolve(this.live);
    return link;
  }

  /**
   * Out of use (and of the filters) for good; its slot keeps only the name. `leaving`: it still
   * receives (leavingAt) until `gone`.
   */
  remove(link: Link, leaving = false): void {
    if (this.slots[link.index] === link) this.slots[link.index] = undefined;
    if (leaving) this.leaving[link.index] = link;
    this.live = this.live.filter((l) => l !== link);
    this.filters.resolve(this.live);
  }

  /** A removed link that still receives; undefined for any other index. */
  leavingAt(index: number): Link | undefined {
    return this.leaving[index];
  }

  /** A leaving link no longer receives: let go. */
  gone(link: Link): void {
    if (this.leaving[link.index] === link) this.leaving[link.index] = undefined;
  }

  /** The configuration order of the links in use; unknown indices are ignored. */
  order(indices: readonly number[]): void {
    const ordered = indices.map((i) => this.at(i)).filter((l): l is Link => l !== undefined);
    this.live = [...new Set([...ordered, ...this.live])];
    this.filters.resolve(this.live);
  }

  /** A random receiver index unused by any session or handshake of any link. */
  newLocalIndex(random: Random): number {
    for (;;) {
      const i = randomU32(random);
      if (!this.live.some((l) => l.usesIndex(i))) return i;
    }
  }

  // ---------------------------------------------------------------- carriers

  /**
   * Chooses again which links carry data (policy.ts). The lists change only when the choice
   * does, so that readers can keep them between calls.
   */
  chooseCarriers(nowMs: number): void {
    const choice = chooseCarriers(this.live, nowMs, (l) => Boolean(l.current));
    const next = choice.map((l) => l.index);
    if (next.length === this.eligible.length && next.every((v, i) => v === this.eligible[i])) return;
    this.eligible = next;
    this.carriers = choice;
  }

  /** Links that may carry data now (indices), as last chosen. */
  get eligibleIndices(): readonly number[] {
    return this.eligible;
  }

  /** The same, as links. */
  get candidates(): readonly Link[] {
    return this.carriers;
  }

  /** Every link that is up with keys (some may not be candidates: lossy, fallback). */
  active(): readonly Link[] {
    const a = this.activeList;
    a.length = 0;
    for (const l of this.live) if (l.isUp && l.current) a.push(l);
    return a;
  }

  // ---------------------------------------------------------------- filters

  setFilters(rules: FilterRules): void {
    this.filters.setRules(rules, this.live);
  }

  /** The link a `[filters]` entry pins this packet to, if any. */
  pinned(packet: Uint8Array): Link | undefined {
    return this.filters.size > 0 ? this.filters.pick(packet) : undefined;
  }

  get filterMatches(): readonly number[] {
    return this.filters.matched;
  }
}
