/**
 * A tun device without root, for the daemon's TunFactory port (src/io/driver.ts): packets the
 * test injects arrive on a non-blocking Unix datagram socket (one packet per read, as on a tun;
 * those that do not fit its queue are sent as the daemon reads),
 * so the daemon's real poll loop (src/io/tun-reader.ts) wakes on them; packets the daemon writes
 * are kept in memory for the test, with a signal per packet.
 */
import { AF_UNIX, bind, close, Errno, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, socket, tryRecv } from "../../src/io/libc.ts";
import type { TunDevice, TunOptions } from "../../src/io/tun.ts";
import { UnixDatagramSocket, unixAddress } from "../../src/io/unix-dgram.ts";
import type { Signal } from "./signal.ts";

let made = 0;

export class FakeTun implements TunDevice {
  readonly name: string;
  readonly kind: TunOptions["kind"];
  readonly mtu: number;
  /** Packets the daemon wrote (copies), in order. */
  readonly written: Uint8Array[] = [];
  #fd: number;
  readonly #address: Uint8Array;
  readonly #sender = UnixDatagramSocket.open();
  /** Injected packets that did not fit the socket's queue yet. */
  readonly #pending: Uint8Array[] = [];

  constructor(options: TunOptions, private readonly signal: Signal) {
    this.name = options.name.replace("%d", String(made));
    this.kind = options.kind;
    this.mtu = options.mtu;
    // An abstract address: nothing on disk, gone with the socket.
    this.#address = unixAddress(`@mlvpn-fake-tun-${process.pid}-${made++}-${Math.random().toString(36).slice(2)}`);
    this.#fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
    try {
      bind(this.#fd, this.#address, "fake tun");
    } catch (e) {
      close(this.#fd);
      throw e;
    }
  }

  get fd(): number {
    return this.#fd;
  }

  /** A packet "from the LAN": the daemon reads it from the device (in order, none dropped). */
  inject(packet: Uint8Array): void {
    if (this.#pending.length > 0 || !this.#send(packet)) this.#pending.push(packet.slice());
  }

  /** False when the socket's queue is full (max_dgram_qlen): the packet waits for a read. */
  #send(packet: Uint8Array): boolean {
    const err = this.#sender.send(packet, this.#address);
    if (err === Errno.EAGAIN) return false;
    if (err !== 0) throw new Error(`fake tun ${this.name}: injecting a packet failed (errno ${err})`);
    return true;
  }

  read(buf: Uint8Array): number {
    const n = this.#fd < 0 ? 0 : tryRecv(this.#fd, buf);
    // Each read makes room for one waiting packet.
    if (n > 0 && this.#pending.length > 0 && this.#send(this.#pending[0]!)) this.#pending.shift();
    return n > 0 ? n : 0;
  }

  write(packet: Uint8Array): boolean {
    this.written.push(packet.slice());
    this.signal.poke();
    return true;
  }

  close(): void {
    this.#sender.close();
    if (this.#fd < 0) return;
    close(this.#fd);
    this.#fd = -1;
  }
}
