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
 * holder leaves behind: a connect that is refused proves it stale.
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

function inUseMessage(dataDir: string, owner: DataDirOwner | undefined): string {
  if (!owner) return `DATA_DIR ${dataDir} is in use by another Mailbridge process; stop it first or use its API.`;
  const where = owner.url ? `listening on ${owner.url}` : "not listening yet";
  return (
    `DATA_DIR ${dataDir} is in use by Mailbridge ${owner.role} pid ${owner.pid} on ${owner.hostname} ` +
    `(started ${owner.startedAt}, ${where}); stop it first or use its API.`
  );
}

/** The socket address that stands for `dataDir` (which must exist). */
async function lockAddress(dataDir: string, socketFile = false): Promise<{ address: string; isFile: boolean }> {
  const real = await realpath(dataDir);
  const id = createHash("sha256").update(real).digest("hex").slice(0, 32);
  if (socketFile) return { address: path.join(real, SOCKET_FILE), isFile: true };
  if (process.platform === "linux") return { address: `\0mailbridge-data-dir-${id}`, isFile: false };
  if (process.platform === "win32") return { address: `\\\\.\\pipe\\mailbridge-data-dir-${id}`, isFile: false };
  return { address: path.join(real, SOCKET_FILE), isFile: true };
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
  const { address, isFile } = await lockAddress(dataDir, opts.socketFile);
  const owner: DataDirOwner = {
    pid: process.pid,
    hostname: os.hostname(),
    startedAt: new Date().toISOString(),
    role: opts.role ?? "process",
  };
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.end(JSON.stringify(owner) + "\n");
  });
  let err = await listen(server, address);
  if (err?.code === "EADDRINUSE" && isFile) {
    // A socket file outlives a killed holder; only a live holder accepts.
    const seen = await probe(address, DEFAULT_PROBE_TIMEOUT_MS);
    if (seen.held) throw new DataDirInUseError(dataDir, seen.owner ?? (await ownerFromFile(dataDir)));
    await rm(address, { force: true });
    err = await listen(server, address);
  }
  if (err?.code === "EADDRINUSE") {
    const seen = await probe(address, DEFAULT_PROBE_TIMEOUT_MS);
    throw new DataDirInUseError(dataDir, seen.owner ?? (await ownerFromFile(dataDir)), { cause: err });
  }
  if (err) throw err;
  // The lock must never keep a process alive on its own.
  server.unref();
  const ownerFile = path.join(dataDir, OWNER_FILE);
  const writeOwner = () => writeFile(ownerFile, JSON.stringify(owner, null, 2) + "\n", { mode: 0o600 });
  try {
    await writeOwner();
  } catch (e) {
    server.close();
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
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return released;
    },
  };
}

async function ownerFromFile(dataDir: string): Promise<DataDirOwner | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dataDir, OWNER_FILE), "utf8")) as DataDirOwner;
  } catch {
    return undefined;
  }
}
