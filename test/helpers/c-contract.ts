/**
 * The C MLVPN's /status contract (README.md, "`/status` fields", column C): every field and its
 * JSON type, so that a document can be checked the way an existing dashboard reads it.
 * "integer" is a number the C program printed with %d/%u.
 */
type JsonType = "string" | "integer" | "object" | "array";

export const C_TOP: Record<string, JsonType> = {
  name: "string",
  version: "string",
  uptime: "integer",
  last_reload: "integer",
  pid: "integer",
  tuntap: "object",
  tunnels: "array",
};

export const C_TUNNEL: Record<string, JsonType> = {
  name: "string",
  mode: "string",
  bindaddr: "string",
  bindport: "string",
  destaddr: "string",
  destport: "string",
  status: "string",
  sentpackets: "integer",
  recvpackets: "integer",
  sentbytes: "integer",
  recvbytes: "integer",
  bandwidth: "integer",
  srtt: "integer",
  loss: "integer",
  disconnects: "integer",
  last_packet: "integer",
  timeout: "integer",
};

export const C_STATES = ["disconnected", "waiting peer", "connected", "lossy link", "slow link"];

function hasType(value: unknown, type: JsonType): boolean {
  switch (type) {
    case "integer":
      return typeof value === "number" && Number.isInteger(value) && value >= 0;
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    default:
      return typeof value === type;
  }
}

/** What a C-era dashboard would trip over in this parsed document; empty when none. */
export function cContractProblems(doc: unknown): string[] {
  const problems: string[] = [];
  const check = (obj: Record<string, unknown>, fields: Record<string, JsonType>, where: string) => {
    for (const [k, t] of Object.entries(fields)) if (!hasType(obj[k], t)) problems.push(`${where}${k} = ${JSON.stringify(obj[k])} is not a JSON ${t}`);
  };
  if (!hasType(doc, "object")) return ["not a JSON object"];
  const d = doc as Record<string, unknown>;
  check(d, C_TOP, "");
  if (hasType(d.tuntap, "object")) check(d.tuntap as Record<string, unknown>, { type: "string", name: "string" }, "tuntap.");
  if (Array.isArray(d.tunnels)) {
    d.tunnels.forEach((t, i) => {
      if (!hasType(t, "object")) return void problems.push(`tunnels[${i}] is not an object`);
      check(t as Record<string, unknown>, C_TUNNEL, `tunnels[${i}].`);
      const status = (t as Record<string, unknown>).status;
      if (!C_STATES.includes(status as string)) problems.push(`tunnels[${i}].status = ${JSON.stringify(status)} is not a C state text`);
    });
  }
  return problems;
}
