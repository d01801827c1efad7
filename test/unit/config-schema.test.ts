import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";

const FIXTURES = join(import.meta.dir, "..", "fixtures");

function load(name: string): Config {
  const r = loadConfig(join(FIXTURES, name), { checkOnly: true });
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  expect(errors).toEqual([]);
  expect(r.config).toBeDefined();
  return r.config!;
}

const withoutSource = (c: Config) => ({ ...c, file: "", format: "" });

describe("the guide's configurations", () => {
  test("client.conf: every value typed, defaults filled in, links inherit [general]", () => {
    const c = load("client.conf");
    expect(c.general).toEqual({
      mode: "client",
      password: "you have not changed me yet?",
      statuscommand: "/etc/mlvpn/mlvpn0_updown.sh",
      interface_name: "mlvpn0",
      tuntap: "tun",
      cleartext_data: false,
      timeout: 30,
      reorder_buffer_size: 64,
      loss_tolerence: 50,
      latency_tolerence: 1000,
      cipher: "aes-256-gcm",
      redundant_copies: 2,
    });
    expect(c.links).toEqual([
      { name: "adsl1", bindhost: "192.168.1.2", bindfib: 0, remotehost: "128.128.128.128", remoteport: 5080, bandwidth_upload: 0, timeout: 30, loss_tolerence: 50, latency_tolerence: 1000, fallback_only: false, priority: 0 },
      { name: "adsl2", bindhost: "192.168.2.2", bindfib: 0, remotehost: "128.128.128.128", remoteport: 5081, bandwidth_upload: 0, timeout: 30, loss_tolerence: 50, latency_tolerence: 1000, fallback_only: false, priority: 0 },
    ]);
    expect(c.filters).toEqual([]);
  });

  test("server.conf: links need only bindport and listen on all addresses", () => {
    const c = load("server.conf");
    expect(c.general.mode).toBe("server");
    expect(c.general.password).toBe("pleasechangeme!");
    expect(c.links.map((l) => [l.name, l.bindhost, l.bindport])).toEqual([
      ["adsl1", undefined, 5080],
      ["adsl2", undefined, 5081],
    ]);
  });

  test("the TOML twins mean exactly the same", () => {
    expect(withoutSource(load("client.toml"))).toEqual(withoutSource(load("client.conf")));
    expect(withoutSource(load("server.toml"))).toEqual(withoutSource(load("server.conf")));
    expect(load("client.toml").format).toBe("toml");
  });
});
