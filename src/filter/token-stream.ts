/**
 * The token stream the pcap-filter parser works on (src/filter/parser.ts): the limits on
 * length and nesting checked up front, lookahead, and backtracking over alternatives that
 * reports the furthest failure (where the expression stops making sense to the grammar).
 */
import { FilterError, type Token, tokenize } from "./lexer.ts";

/** Deeper nesting (parentheses, brackets, `not`) is refused: no real filter comes close. */
export const MAX_DEPTH = 100;
/** Longer expressions are refused. */
export const MAX_TOKENS = 2000;

export class Fail {
  constructor(
    readonly tok: Token,
    readonly message: string,
  ) {}
}

export class TokenStream {
  protected i = 0;
  /** The furthest failure: the error reported when every alternative failed. */
  protected worst: Fail | undefined;
  protected readonly t: Token[];

  constructor(text: string) {
    this.t = tokenize(text);
    if (this.t.length > MAX_TOKENS) {
      const tok = this.t[MAX_TOKENS]!;
      throw new FilterError(`expression too long (more than ${MAX_TOKENS} tokens)`, tok.pos, tok.raw);
    }
    // The parser recurses once per open parenthesis or bracket and per prefix `not`/`-`.
    let open = 0;
    let prefixes = 0;
    for (const tok of this.t) {
      const op = tok.kind === "op" ? tok.text : "";
      if (op === "(" || op === "[") open++;
      else if (op === "not" || op === "-") prefixes++;
      else if (op === ")" || op === "]") (open = Math.max(0, open - 1)), (prefixes = 0);
      else prefixes = 0;
      if (open + prefixes > MAX_DEPTH) throw new FilterError(`expression nested too deeply (more than ${MAX_DEPTH} levels)`, tok.pos, tok.raw);
    }
  }

  /** Runs a whole parse, turning the furthest parse failure into a FilterError. */
  protected reporting<T>(parse: () => T): T {
    try {
      return parse();
    } catch (e) {
      if (e instanceof Fail) {
        const f = this.worst && this.worst.tok.pos > e.tok.pos ? this.worst : e;
        throw new FilterError(f.message, f.tok.pos, f.tok.raw);
      }
      throw e;
    }
  }

  protected peek(n = 0): Token {
    return this.t[Math.min(this.i + n, this.t.length - 1)]!;
  }

  protected next(): Token {
    const tok = this.peek();
    if (tok.kind !== "end") this.i++;
    return tok;
  }

  protected is(tok: Token, kind: Token["kind"], text?: string): boolean {
    return tok.kind === kind && (text === undefined || tok.text === text);
  }

  protected isOp(text: string, n = 0): boolean {
    return this.is(this.peek(n), "op", text);
  }

  protected fail(tok: Token, message: string): never {
    const f = new Fail(tok, message);
    if (!this.worst || tok.pos >= this.worst.tok.pos) this.worst = f;
    throw f;
  }

  protected expectOp(text: string): Token {
    if (!this.isOp(text)) this.fail(this.peek(), this.peek().kind === "end" ? `syntax error: '${text}' expected` : "syntax error");
    return this.next();
  }

  /** Tries alternatives in order from the same token; the first that parses wins. */
  protected attempt<T>(...alts: (() => T)[]): T {
    const start = this.i;
    let last: Fail | undefined;
    for (const alt of alts) {
      try {
        return alt();
      } catch (e) {
        if (!(e instanceof Fail)) throw e;
        last = e;
        this.i = start;
      }
    }
    throw last!;
  }
}
