/**
 * When a client link bound to an address or an interface has no source address (src/io/addrwatch.ts
 * `sourceGone`), on interface lists as os.networkInterfaces() gives them; and the address watch
 * wakes on a change of this machine's addresses.
 */
import { describe, expect, test } from "bun:test";
import { type Interfaces, openAddressWatch, sourceGone } from "../../src/io/addrwatch.ts";

const entry = (address: string, family: "IPv4" | "IPv6") => ({ address, family, netmask: "", mac: "00:00:00:00:00:00", internal: false, cidr: null }) as NonNullable<Interfaces[string]>[number];

const up: Interfaces = {
  lo: [entry("127.0.0.1", "IPv4"), entry("::1", "IPv6")],
  wan: [entry("192.168.102.2", "IPv4"), entry("fe80::1", "IPv6"), entry("2001:db8::2", "IPv6")],
  lte: [entry("fe80::2", "IPv6")],
};

describe("sourceGone", () => {
  test("bindinterface: an address of the peer's family on the interface, IPv6 link-local ones not counted", () => {
    expect(sourceGone({ bindinterface: "wan" }, 4, up)).toBeUndefined();
    expect(sourceGone({ bindinterface: "wan" }, 6, up)).toBeUndefined();
    expect(sourceGone({ bindinterface: "lte" }, 6, up)).toBe("interface lte has no usable IPv6 address (none, or it is down)");
    expect(sourceGone({ bindinterface: "lte" }, 4, up)).toBe("interface lte has no usable IPv4 address (none, or it is down)");
    // Down (not listed), or without any address.
    expect(sourceGone({ bindinterface: "ppp0" }, 4, up)).toBe("interface ppp0 has no usable IPv4 address (none, or it is down)");
  });

  test("bindhost: that address on any interface, however an IPv6 address is written", () => {
    expect(sourceGone({ bindhost: "192.168.102.2" }, 4, up)).toBeUndefined();
    expect(sourceGone({ bindhost: "2001:DB8:0::2" }, 6, up)).toBeUndefined();
    expect(sourceGone({ bindhost: "192.168.102.3" }, 4, up)).toBe("bindhost 192.168.102.3 is not an address of this machine");
    expect(sourceGone({ bindhost: "2001:db8::3" }, 6, up)).toBe("bindhost 2001:db8::3 is not an address of this machine");
  });

  test("bindhost and bindinterface: that address on that interface", () => {
    expect(sourceGone({ bindhost: "192.168.102.2", bindinterface: "wan" }, 4, up)).toBeUndefined();
    expect(sourceGone({ bindhost: "127.0.0.1", bindinterface: "wan" }, 4, up)).toBe("bindhost 127.0.0.1 is not an address of interface wan");
  });

  test("nothing to check: no binding, the wildcard address, a name", () => {
    expect(sourceGone({}, 4, up)).toBeUndefined();
    expect(sourceGone({ bindhost: "0.0.0.0" }, 4, {})).toBeUndefined();
    expect(sourceGone({ bindhost: "::" }, 6, {})).toBeUndefined();
    expect(sourceGone({ bindhost: "router.example" }, 4, {})).toBeUndefined();
  });
});

describe.skipIf(process.platform !== "linux")("openAddressWatch", () => {
  // Its wake-up on a real change is tested in test/integration/source-address.test.ts (a netns).
  test("opens, tells of a change once per drain that read something (here: whatever this namespace did meanwhile), and closes", () => {
    let changes = 0;
    const w = openAddressWatch(() => changes++);
    try {
      expect(w.fd).toBeGreaterThan(2);
      const n = w.drain(16);
      expect(changes).toBe(n > 0 ? 1 : 0);
      w.close();
      expect(w.drain(16)).toBe(0);
    } finally {
      w.close();
    }
  });
});
