/**
 * pcap-filter expressions (the language of tcpdump), compiled once into a matcher over packets:
 *
 *   const f = compileFilter("tcp port 22 or icmp", "raw");
 *   f.match(packet)            // raw IPv4/IPv6 packet as read from the tun
 *
 * Errors are FilterError: a message, the offending token and its position. docs/filters.md
 * lists what is supported and how it matches tcpdump.
 */
import { generateList, type LinkType, lastMatchHitEnd, type ListPred, type Pred, runPred } from "./codegen.ts";
import { Compiler } from "./compile.ts";
import { formatFilter, parseFilter } from "./parser.ts";

export { FilterError } from "./lexer.ts";
export type { LinkType } from "./codegen.ts";

export interface PacketFilter {
  /** The expression as written. */
  readonly source: string;
  /** As parsed, every implicit qualifier written out. */
  readonly normalized: string;
  /**
   * True when the packet matches. `captured` bytes of `packet` are present (default: all);
   * `wireLength` is what `len`, `less` and `greater` see (default: the captured length).
   */
  match(packet: Uint8Array, captured?: number, wireLength?: number): boolean;
  /**
   * True when the last match() rejected the packet because a byte it had to read lies beyond
   * the captured ones. libpcap's optimizer removes some such reads when their outcome cannot
   * change the result: tcpdump may then match where mlvpn does not (docs/filters.md).
   */
  readonly hitEnd: boolean;
}

class Compiled implements PacketFilter {
  constructor(
    readonly source: string,
    readonly normalized: string,
    private readonly pred: Pred,
  ) {}

  get hitEnd(): boolean {
    return lastMatchHitEnd();
  }

  match(packet: Uint8Array, captured = packet.length, wireLength = captured): boolean {
    return runPred(this.pred, packet, Math.min(captured, packet.length), wireLength);
  }
}

export function compileFilter(expression: string, linktype: LinkType): PacketFilter {
  const ast = parseFilter(expression);
  const pred = new Compiler(linktype).compile(ast, expression);
  return new Compiled(expression, formatFilter(ast), pred);
}

/** An ordered list of expressions compiled into one function (the `[filters]` of a tunnel). */
export interface FilterList {
  readonly size: number;
  /**
   * Index of the first entry whose `usable[i]` is 1 and that matches the whole packet, or -1.
   * Entries not usable are not evaluated.
   */
  first(packet: Uint8Array, usable: Uint8Array): number;
}

export function compileFilterList(expressions: readonly string[], linktype: LinkType): FilterList {
  const compiler = new Compiler(linktype);
  const codes = expressions.map((e) => compiler.code(parseFilter(e), e));
  const fn: ListPred = generateList(codes, compiler.temps);
  return {
    size: expressions.length,
    first: (packet, usable) => fn(packet, packet.length, packet.length, usable),
  };
}
