/**
 * One owner per embedded DATA_DIR (SPEC §2): the process that opens the
 * PGlite files holds an OS-level lock that dies with it.
 *
 * Node has no flock(2), so the lock is a listening Unix socket: `bind` is
 * atomic, a second bind answers EADDRINUSE, and the kernel frees the name
 * when the holder exits, however it exits (a SIGKILL leaves nothing behind).
 * On Linux the socket lives in the abstract namespace under a name derived
 * from the directory's realpath; on Windows it is a named pipe (same
 * semantics); elsewhere it is a socket file in DATA_DIR, which a killed
 * holder leaves behind: a connect that is refused proves it stale. Linux
 * holds that file too, since an abstract name is per network namespace.
 *
 * Whoever connects to the socket is answered with the owner (pid, host,
 * start time, listen URL once known) and the connection is closed. Nothing
 * else is served on it: an abstract socket has no file permissions.
 * The same record is written to `DATA_DIR/owner.json` for people to read.
 */
import { createHash } from "node:crypto";
import { readFile, realpath, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** The record a holder answers with. */
export interface DataDirOwner {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken. */
  startedAt: string;
  /** What holds it: `service`, `account CLI`, … */
  role: string;
  /** Where the holding service answers HTTP on this host, once it listens. */
  url?: string;
}

export interface DataDirLock {
  readonly dataDir: string;
  readonly owner: Readonly<DataDirOwner>;
  /** Tell later openers where this process serves (written to the owner record). */
  announce(info: { url: string }): Promise<void>;
  /** Give the directory up (idempotent). */
  release(): Promise<void>;
}

/** Another process (or another open in this one) holds the directory. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: DataDirOwner | undefined,
    options?: { cause?: unknown },
  ) {
    super(inUseMessage(dataDir, owner), options);
    this.name = "DataDirInUseError";
  }
}

export const OWNER_FILE = "owner.json";
const SOCKET_FILE = "mailbridge.sock";
/** How long a probe waits for the holder's answer. */
const DEFAULT_PROBE_TIMEOUT_MS = 2000;
/** Longest socket file path used (sun_path is 104 bytes on macOS, 108 on Linux, with the NUL). */
const MAX_SOCKET_PATH = 100;

function inUseMessage(dataDir: string, owner: DataDirOwner | undefined): string {
  if (!owner) return `DATA_DIR ${dataDir} is in use by another Mailbridge process; stop it first or use its API.`;
  const where = owner.url ? `listening on ${owner.url}` : "not listening yet";
  return (
    `DATA_DIR ${dataDir} is in use by Mailbridge ${owner.role} pid ${owner.pid} on ${owner.hostname} ` +
    `(started ${owner.startedAt}, ${where}); stop it first or use its API.`
  );
}

interface LockAddress {
  address: string;
  /** A socket file outlives a killed holder: a refused connect proves it stale. */
  isFile: boolean;
}

/**
 * The sockets that stand for `dataDir` (which must exist): the platform's
 * own mechanism first, then, on Linux, the socket file in DATA_DIR as well:
 * an abstract name is per network namespace, so two containers sharing one
 * volume only meet at the file.
 */
async function lockAddresses(dataDir: string, socketFile = false): Promise<LockAddress[]> {
  const real = await realpath(dataDir);
  const id = createHash("sha256").update(real).digest("hex").slice(0, 32);
  const inDir = path.join(real, SOCKET_FILE);
  // sun_path holds 104-108 bytes and Node 20 truncates a longer path silently.
  const fits = Buffer.byteLength(inDir) <= MAX_SOCKET_PATH;
  if (socketFile) return [{ address: inDir, isFile: true }];
  if (process.platform === "linux") {
    const abstract = { address: `\0mailbridge-data-dir-${id}`, isFile: false };
    return fits ? [abstract, { address: inDir, isFile: true }] : [abstract];
  }
  if (process.platform === "win32") return [{ address: `\\\\.\\pipe\\mailbridge-data-dir-${id}`, isFile: false }];
  return [{ address: fits ? inDir : path.join(os.tmpdir(), `mailbridge-data-dir-${id}.sock`), isFile: true }];
}

function listen(server: net.Server, address: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException) => resolve(err);
    server.once("error", onError);
    server.listen({ path: address, exclusive: true }, () => {
      server.off("error", onError);
      resolve(undefined);
    });
  });
}

/**
 * Ask whoever holds `address` who they are. `held: false` when nobody
 * listens there (for a socket file: it is stale).
 */
function probe(address: string, timeoutMs: number): Promise<{ held: boolean; owner?: DataDirOwner }> {
  return new Promise((resolve) => {
    let data = "";
    let connected = false;
    const socket = net.connect({ path: address });
    socket.setEncoding("utf8");
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on("connect", () => (connected = true));
    socket.on("data", (chunk) => (data += chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      if (!connected) return resolve({ held: false });
      try {
        resolve({ held: true, owner: JSON.parse(data) as DataDirOwner });
      } catch {
        resolve({ held: true });
      }
    });
  });
}

export interface LockOptions {
  /** What this process is, as the owner record names it. @defaultValue `"process"` */
  role?: string;
  /**
   * Use the portable socket file in DATA_DIR even where the platform has a
   * better mechanism (tests of the fallback on Linux). @defaultValue false
   */
  socketFile?: boolean;
}

/**
 * Take the lock on `dataDir` (an existing directory) or throw
 * {@link DataDirInUseError} naming the holder.
 */
export async function lockDataDir(dataDir: string, opts: LockOptions = {}): Promise<DataDirLock> {
  const owner: DataDirOwner = {
    pid: process.pid,
    hostname: os.hostname(),
    startedAt: new Date().toISOString(),
    role: opts.role ?? "process",
  };
  const [primary, secondary] = await lockAddresses(dataDir, opts.socketFile);
  const servers = [await take(dataDir, primary!, owner)];
  if (secondary) {
    try {
      servers.push(await take(dataDir, secondary, owner));
    } catch (err) {
      // A filesystem without socket files leaves the primary lock alone on guard.
      if (err instanceof DataDirInUseError) {
        await closeAll(servers);
        throw err;
      }
    }
  }
  const ownerFile = path.join(dataDir, OWNER_FILE);
  const writeOwner = () => writeFile(ownerFile, JSON.stringify(owner, null, 2) + "\n", { mode: 0o600 });
  try {
    await writeOwner();
  } catch (e) {
    await closeAll(servers);
    throw e;
  }
  let released: Promise<void> | undefined;
  return {
    dataDir,
    owner,
    async announce(info) {
      owner.url = info.url;
      await writeOwner();
    },
    release() {
      released ??= (async () => {
        await rm(ownerFile, { force: true });
        // Closing a socket-file server unlinks the file too.
        await closeAll(servers.reverse());
      })();
      return released;
    },
  };
}

/** Listen on `at`, answering every connection with `owner`; or throw DataDirInUseError. */
async function take(dataDir: string, at: LockAddress, owner: DataDirOwner): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.end(JSON.stringify(owner) + "\n");
  });
  let err = await listen(server, at.address);
  if (err?.code === "EADDRINUSE" && at.isFile) {
    const seen = await probe(at.address, DEFAULT_PROBE_TIMEOUT_MS);
    if (seen.held) throw new DataDirInUseError(dataDir, seen.owner ?? (await ownerFromFile(dataDir)), { cause: err });
    await rm(at.address, { force: true });
    err = await listen(server, at.address);
  }
  if (err?.code === "EADDRINUSE") {
    const seen = await probe(at.address, DEFAULT_PROBE_TIMEOUT_MS);
    throw new DataDirInUseError(dataDir, seen.owner ?? (await ownerFromFile(dataDir)), { cause: err });
  }
  if (err) throw err;
  // The lock must never keep a process alive on its own.
  server.unref();
  return server;
}

function closeAll(servers: net.Server[]): Promise<void> {
  return Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
}

async function ownerFromFile(dataDir: string): Promise<DataDirOwner | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dataDir, OWNER_FILE), "utf8")) as DataDirOwner;
  } catch {
    return undefined;
  }
}
