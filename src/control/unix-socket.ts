/**
 * Listening on a Unix stream socket safely: the path is taken over only from a dead socket (never
 * from a live one or from any other kind of file), the socket is created with mode 0600, and it
 * is removed at the end. Errors are SocketPathError with one readable line.
 */
import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import type { SocketHandler, UnixSocketListener } from "bun";

export class SocketPathError extends Error {}

/** sun_path is 108 bytes including the terminating NUL. */
const MAX_UNIX_PATH = 107;

/**
 * Makes `path` free for a new socket: a socket file left by a previous run is removed; a live one
 * (something accepts connections) or any other kind of file is refused. `key` names the setting
 * in messages.
 */
export async function takeUnixPath(path: string, key: string): Promise<void> {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_UNIX_PATH) throw new SocketPathError(`${key} is too long for a Unix socket (${bytes} bytes, at most ${MAX_UNIX_PATH}): ${path}`);
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new SocketPathError(`${key}: cannot check ${path}: ${(e as Error).message}`);
  }
  if (!st.isSocket()) throw new SocketPathError(`${key} ${path} exists and is not a socket: refusing to replace it (remove it or choose another path)`);
  if (await accepts(path)) throw new SocketPathError(`${key} ${path} is in use by a running process (another mlvpn?)`);
  try {
    unlinkSync(path);
  } catch (e) {
    throw new SocketPathError(`${key}: cannot remove the stale socket ${path}: ${(e as Error).message}`);
  }
}

/** Listens on `path` with mode 0600 from the start. */
export function listenUnixPrivate<T>(path: string, socket: SocketHandler<T>): UnixSocketListener<T> {
  // No access for group and others from creation on (no window before the chmod); nothing else
  // in this process creates files between these lines.
  const umask = process.umask(0o177);
  try {
    return Bun.listen<T>({ unix: path, socket });
  } catch (e) {
    throw new SocketPathError(`cannot listen on ${path}: ${listenError(e)}`);
  } finally {
    process.umask(umask);
    try {
      chmodSync(path, 0o600);
    } catch {}
  }
}

/** Removes the socket file at the end (only if it is still a socket). */
export function removeUnixSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {}
}

/** Whether something listens on a Unix socket (connect succeeds within a second). */
async function accepts(path: string): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = Bun.connect({ unix: path, socket: { data() {}, error() {} } }).then(
    (s) => {
      s.end();
      return true;
    },
    () => false,
  );
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 1000)));
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const LISTEN_ERRORS: Record<string, string> = {
  ENOENT: "its directory does not exist",
  EACCES: "permission denied",
  EADDRINUSE: "address already in use (another mlvpn running?)",
  EADDRNOTAVAIL: "no interface has this address",
  ENAMETOOLONG: "path too long",
};

/** Why Bun.listen failed, in words (its own message names only the address). */
export function listenError(e: unknown): string {
  const code = (e as { code?: string }).code;
  return (code && LISTEN_ERRORS[code]) ?? code ?? (e as Error).message;
}
