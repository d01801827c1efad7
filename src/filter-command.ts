/**
 * `mlvpn filter EXPRESSION FILE.pcap`: the 1-based numbers of the packets that match, one per
 * line, as `tcpdump -r FILE.pcap EXPRESSION` would select them, to try a `[filters]` entry
 * before deploying it.
 */
import { readFileSync } from "node:fs";
import { compileFilter, FilterError } from "./filter/index.ts";
import { PcapError, readPcap } from "./filter/pcap.ts";

export const FILTER_HELP = `usage: mlvpn filter [--normalized] EXPRESSION FILE.pcap

Prints the numbers (1-based) of the packets in FILE.pcap that match the pcap-filter EXPRESSION,
one per line: the packets tcpdump -r FILE.pcap EXPRESSION would show. FILE.pcap is a pcap file
(not pcapng) of raw IP (as on the tun), Ethernet or Linux cooked packets.
  --normalized   also print the expression as mlvpn reads it (first line, on stderr)
Exit status: 0 success, 1 bad expression or file, 2 usage error.
`;

export interface FilterIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export function runFilter(argv: readonly string[], io: FilterIo): number {
  if (argv.includes("-h") || argv.includes("--help")) {
    io.stdout(FILTER_HELP);
    return 0;
  }
  const normalized = argv.includes("--normalized");
  const args = argv.filter((a) => a !== "--normalized" && a !== "--");
  if (args.length !== 2) {
    io.stderr(`mlvpn filter: expected an expression and a pcap file\n${FILTER_HELP}`);
    return 2;
  }
  const [expression, file] = args as [string, string];
  let pcap;
  try {
    pcap = readPcap(readFileSync(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = e instanceof PcapError ? e.message : code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String((e as Error).message);
    io.stderr(`mlvpn filter: ${file}: ${why}\n`);
    return 1;
  }
  let filter;
  try {
    filter = compileFilter(expression, pcap.linktype);
  } catch (e) {
    if (!(e instanceof FilterError)) throw e;
    io.stderr(`mlvpn filter: ${JSON.stringify(expression)}: ${e.describe()}\n`);
    return 1;
  }
  if (normalized) io.stderr(`${filter.normalized}\n`);
  const out: string[] = [];
  pcap.records.forEach((r, i) => {
    if (filter.match(r.data, r.data.length, r.length)) out.push(String(i + 1));
  });
  io.stdout(out.length > 0 ? `${out.join("\n")}\n` : "");
  return 0;
}
