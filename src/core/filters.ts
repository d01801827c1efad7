/**
 * `[filters]` at run time (docs/filters.md): the configured entries compiled once, in file
 * order, each with the link it pins its packets to. For a packet read from the tun, the first
 * entry that matches and whose link can send now decides; an entry whose link is down is
 * skipped, as in the C MLVPN (reference: src/filters.c). No match: the scheduler decides.
 */
import type { FilterConfig } from "../config/schema.ts";
import { compileFilterList, type FilterList } from "../filter/index.ts";
import type { Link } from "./link.ts";

/** The entries compiled into one matcher, with the link each one names. */
export interface FilterRules {
  /** Section names of the links, per entry. */
  links: readonly string[];
  list: FilterList;
}

/** Compiles validated entries (the configuration checked them: this does not throw for them). */
export function compileFilterRules(filters: readonly FilterConfig[], kind: "tun" | "tap"): FilterRules {
  return { links: filters.map((f) => f.link), list: compileFilterList(filters.map((f) => f.expression), kind === "tap" ? "ether" : "raw") };
}

const NO_RULES: FilterRules = { links: [], list: { size: 0, first: () => -1 } };

/** A link that may take pinned traffic now: up, keyed, answering. Fallback and health rules do not apply, as in C. */
export const canPin = (l: Link): boolean => l.isUp && l.current !== undefined && !l.stalled && !l.retired;

/** The rules with their links resolved; rebuilt when the rules or the links change, never per packet. */
export class FilterTable {
  private links: (Link | undefined)[] = [];
  private usable = new Uint8Array(0);
  /** Packets pinned by each entry since the rules were set (status and tests). */
  matched: number[] = [];

  constructor(private rules: FilterRules = NO_RULES) {}

  get size(): number {
    return this.rules.links.length;
  }

  /** New rules (a reload): replaced as a whole. */
  setRules(rules: FilterRules, links: readonly Link[]): void {
    this.rules = rules;
    this.matched = rules.links.map(() => 0);
    this.usable = new Uint8Array(rules.links.length);
    this.resolve(links);
  }

  /** The links in use changed (added, removed, reordered). */
  resolve(links: readonly Link[]): void {
    this.links = this.rules.links.map((name) => links.find((l) => l.name === name));
  }

  /** The link the packet is pinned to, or undefined for normal scheduling. */
  pick(packet: Uint8Array): Link | undefined {
    const links = this.links;
    const usable = this.usable;
    for (let i = 0; i < links.length; i++) {
      const l = links[i];
      usable[i] = l !== undefined && canPin(l) ? 1 : 0;
    }
    const i = this.rules.list.first(packet, usable);
    if (i < 0) return undefined;
    this.matched[i]!++;
    return links[i];
  }
}
