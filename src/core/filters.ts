/**
 * `[filters]` at run time (docs/filters.md): the configured entries compiled once, in file
 * order, each with the link it pins its packets to. For a packet read from the tun, the first
 * entry that matches and whose link can send now decides; an entry whose link is down is
 * skipped, as in the C MLVPN (reference: src/filters.c). No match: the scheduler decides.
 */
import type { FilterConfig } from "../config/schema.ts";
import { compileFilter, type PacketFilter } from "../filter/index.ts";
import type { Link } from "./link.ts";

export interface FilterRule {
  /** Section name of the link. */
  link: string;
  filter: PacketFilter;
}

/** Compiles validated entries (the configuration checked them: this does not throw for them). */
export function compileFilterRules(filters: readonly FilterConfig[], kind: "tun" | "tap"): FilterRule[] {
  return filters.map((f) => ({ link: f.link, filter: compileFilter(f.expression, kind === "tap" ? "ether" : "raw") }));
}

/** A link that may take pinned traffic now: up, keyed, answering. Fallback and health rules do not apply, as in C. */
export const canPin = (l: Link): boolean => l.isUp && l.current !== undefined && !l.stalled && !l.retired;

/** The rules with their links resolved; rebuilt when the rules or the links change, never per packet. */
export class FilterTable {
  private links: (Link | undefined)[] = [];
  private filters: PacketFilter[] = [];
  /** Packets pinned by a rule, per rule (status and tests). */
  matched: number[] = [];

  constructor(private rules: readonly FilterRule[] = []) {}

  get size(): number {
    return this.rules.length;
  }

  /** New rules (a reload): replaced as a whole. */
  setRules(rules: readonly FilterRule[], links: readonly Link[]): void {
    this.rules = rules;
    this.matched = rules.map(() => 0);
    this.resolve(links);
  }

  /** The links in use changed (added, removed, reordered). */
  resolve(links: readonly Link[]): void {
    this.links = this.rules.map((r) => links.find((l) => l.name === r.link));
    this.filters = this.rules.map((r) => r.filter);
    if (this.matched.length !== this.rules.length) this.matched = this.rules.map(() => 0);
  }

  /** The link the packet is pinned to, or undefined for normal scheduling. */
  pick(packet: Uint8Array): Link | undefined {
    const links = this.links;
    for (let i = 0; i < links.length; i++) {
      const l = links[i];
      if (l === undefined || !canPin(l)) continue;
      if (this.filters[i]!.match(packet)) {
        this.matched[i]!++;
        return l;
      }
    }
    return undefined;
  }
}
