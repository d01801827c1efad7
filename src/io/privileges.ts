/**
 * Dropping root after start-up (docs/c-mlvpn.md, "Privilege separation", minus the chroot): once the tun device and the
 * sockets are open, the daemon becomes `--user` for good. The status scripts keep running as root
 * through the hook helper (hook-helper.ts), started before the drop.
 *
 * The set*id calls go through libc rather than raw syscalls on purpose: the kernel changes the
 * credentials of the calling thread only, and Bun runs several threads (JSC, the tun poll worker,
 * I/O). glibc (since 2.3, via its SIGSETXID broadcast) and musl (via __synccall; setgroups since
 * 1.2.4) apply setgroups/setgid/setuid to every thread of the process. dropPrivileges() does not
 * take that on trust: it checks every thread's credentials in /proc/self/task afterwards.
 */
import { CString, type Pointer, ptr, read } from "bun:ffi";
import { readdirSync, readFileSync } from "node:fs";
import { Errno, errno, libc, strerror, SysError } from "./libc.ts";

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
}

// struct passwd on LP64 Linux (glibc and musl): pw_name, pw_passwd, pw_uid, pw_gid, pw_gecos, pw_dir, pw_shell.
const PASSWD_SIZE = 48;
const PW_UID = 16;
const PW_GID = 20;
const MAX_PWBUF = 1 << 20;

/** Looks a user up the way the C library does (NSS with glibc), so LDAP or systemd users work too. */
export function lookupUser(name: string): UnixUser | undefined {
  const pwd = new Uint8Array(new ArrayBuffer(PASSWD_SIZE));
  const result = new Uint8Array(new ArrayBuffer(8));
  const cname = new TextEncoder().encode(`${name}\0`);
  for (let size = 1024; size <= MAX_PWBUF; size *= 4) {
    const buf = new Uint8Array(new ArrayBuffer(size));
    const rc = libc().getpwnam_r(cname, pwd, buf, size, result);
    if (rc === Errno.ERANGE) continue;
    // POSIX lets an implementation report "no such user" as ENOENT or ESRCH as well as 0 with a NULL result.
    if (rc === Errno.ENOENT || rc === Errno.ESRCH) return undefined;
    if (rc !== 0) throw new Error(`cannot look up user '${name}': ${strerror(rc)}`);
    if (read.ptr(ptr(result), 0) === 0) return undefined;
    const view = new DataView(pwd.buffer);
    const namePtr = Number(view.getBigUint64(0, true)) as Pointer;
    return { name: new CString(namePtr).toString(), uid: view.getUint32(PW_UID, true), gid: view.getUint32(PW_GID, true) };
  }
  throw new Error(`cannot look up user '${name}': its entry is larger than ${MAX_PWBUF} bytes`);
}

export interface PrivilegeOptions {
  user: string;
  yesRunAsRoot: boolean;
}

/** Whom to become after start-up: undefined keeps the current user (not root, or --yes-run-as-root). Throws a one-line Error. */
export function userToDropTo(options: PrivilegeOptions, warn: (message: string) => void): UnixUser | undefined {
  if (libc().geteuid() !== 0) return undefined;
  if (options.yesRunAsRoot) {
    warn("running as root (--yes-run-as-root): the whole data path keeps every privilege; prefer --user");
    return undefined;
  }
  const name = options.user;
  const user = name ? lookupUser(name) : undefined;
  if (!user) {
    throw new Error(`user '${name}' does not exist: create it (useradd --system --no-create-home ${name || "mlvpn"}), pass --user NAME, or --yes-run-as-root`);
  }
  if (user.uid === 0) throw new Error(`user '${name}' is root (uid 0): pass an unprivileged --user, or --yes-run-as-root to keep root on purpose`);
  return user;
}

/** Becomes `user` for good (groups, gid, uid), then proves it: every thread has the new ids and root cannot be regained. */
export function dropPrivileges(user: UnixUser): void {
  const c = libc();
  const groups = new Uint32Array(new ArrayBuffer(4));
  groups[0] = user.gid;
  if (c.setgroups(1, groups) < 0) throw new SysError("setgroups", errno(), `[${user.gid}]`);
  if (c.setgid(user.gid) < 0) throw new SysError("setgid", errno(), String(user.gid));
  // setuid as root sets the real, effective and saved uid, and clears every capability.
  if (c.setuid(user.uid) < 0) throw new SysError("setuid", errno(), String(user.uid));
  const ids = [c.getuid(), c.geteuid(), c.getgid(), c.getegid()];
  if (ids.join() !== [user.uid, user.uid, user.gid, user.gid].join()) {
    throw new Error(`privilege drop to ${user.name} did not take: uid/euid/gid/egid are ${ids.join("/")}`);
  }
  if (c.setuid(0) === 0) throw new Error(`privilege drop to ${user.name} did not take: setuid(0) still succeeds`);
  checkAllThreads(user);
}

/** Every thread's Uid/Gid/Groups lines in /proc: a thread that kept root would defeat the drop. */
function checkAllThreads(user: UnixUser): void {
  const uids = `${user.uid}\t${user.uid}\t${user.uid}\t${user.uid}`;
  const gids = `${user.gid}\t${user.gid}\t${user.gid}\t${user.gid}`;
  for (const tid of readdirSync("/proc/self/task")) {
    let status: string;
    try {
      status = readFileSync(`/proc/self/task/${tid}/status`, "utf8");
    } catch {
      continue; // the thread ended meanwhile
    }
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1]?.trim();
    if (field("Uid") !== uids || field("Gid") !== gids || field("Groups") !== String(user.gid)) {
      throw new Error(`privilege drop to ${user.name} did not reach thread ${tid} (Uid ${field("Uid")}, Gid ${field("Gid")}, Groups ${field("Groups")})`);
    }
  }
}
