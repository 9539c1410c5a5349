/**
 * Real service processes (`server/main.ts`) sharing one PostgreSQL, one Redis
 * and one Google emulator: a cluster, as SPEC §1 describes it. The crash suites
 * start one with {@link startCluster}, connect mailboxes with
 * {@link connectMailboxes}, kill its processes and follow their runs with
 * {@link pollRun}.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { freshPostgresDatabase } from "./db.ts";
import { consent, startGoogle, type TestGoogle } from "./google.ts";

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** A port nothing listens on (on 127.0.0.1) at the moment of asking. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** Service settings a test's process never inherits from the shell running the tests: a suite sets its own. */
const NOT_INHERITED = ["DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "SECRETS_KEY", "ADMIN_TOKEN", "GOOGLE_SANDBOX", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"];

/**
 * Start one service process (`server/main.ts` with `args`) with `env` on a free port and a data
 * directory of its own; resolves when /readyz answers 200. `kill()` sends SIGTERM by default
 * (SIGKILL 5 s later if it is still there), waits for the exit and removes the data directory.
 */
export async function startService(env: Record<string, string>, opts: { args?: string[] } = {}): Promise<ServiceProcess> {
  return onFreePort((port) => startServiceOn(port, env, opts));
}

/**
 * `start(port)` on a port {@link freePort} found. freePort() frees the port before `start` binds
 * it, and on a busy machine another socket (often an outgoing connection's ephemeral port) can
 * take it meanwhile: only a start that failed with EADDRINUSE is tried again, on another port.
 * `start` cleans up after itself when it throws.
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (attempt >= 5 || !(code === "EADDRINUSE" || /EADDRINUSE/.test((err as Error).message))) throw err;
    }
  }
}

async function startServiceOn(port: number, env: Record<string, string>, opts: { args?: string[] }): Promise<ServiceProcess> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "mb-proc-"));
  const url = `http://127.0.0.1:${port}`;
  const inherited = { ...process.env };
  for (const key of NOT_INHERITED) delete inherited[key];
  // node --import tsx (not the tsx CLI) so that a SIGKILL reaches the service itself.
  const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", ...(opts.args ?? [])], {
    cwd: REPO,
    // As in test/support/app.ts: no pacing to Google's per-user quota unless a suite asks for it.
    env: { ...inherited, PORT: String(port), HOST: "127.0.0.1", PUBLIC_URL: url, DATA_DIR: dataDir, LOG_LEVEL: "warn", GMAIL_USER_QUOTA_UNITS_PER_MINUTE: "1000000", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const kill = async (signal: NodeJS.Signals = "SIGTERM") => {
    let timer: NodeJS.Timeout | undefined;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      if (signal !== "SIGKILL") timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    }
    await exited;
    clearTimeout(timer);
    await rm(dataDir, { recursive: true, force: true });
  };
  // Bounds a hang only: a start takes seconds, many on a loaded machine.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) {
      await kill();
      throw new Error(`service exited early:\n${out}`);
    }
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await kill("SIGKILL");
      throw new Error(`service not ready in 120 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, output: () => out, kill };
}

/** Environment shared by every process of one test cluster. */
export function clusterEnv(opts: { databaseUrl: string; redisUrl: string; google: Record<string, string> }): Record<string, string> {
  return {
    DATABASE_URL: opts.databaseUrl,
    REDIS_URL: opts.redisUrl,
    REDIS_PREFIX: `mbtest_${randomBytes(4).toString("hex")}`,
    SECRETS_KEY: randomBytes(32).toString("base64"),
    ADMIN_TOKEN: `mb_cluster_${randomBytes(16).toString("hex")}`,
    ...opts.google,
  };
}

/** JSON over HTTP with a bearer token. */
export function http(base: string, token: string) {
  return async (method: string, url: string, body?: unknown) => {
    const res = await fetch(base + url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}

/** `http()`'s caller: JSON in, `{status, body}` out. */
export type Call = ReturnType<typeof http>;

/** One test cluster: the emulator, a fresh PostgreSQL database, the env its processes share, and the processes. */
export interface TestCluster {
  google: TestGoogle;
  db: { url: string; drop(): Promise<void> };
  /** The environment every process of this cluster starts with (`clusterEnv()` plus the suite's own). */
  env: Record<string, string>;
  /** Every process started so far, killed ones included, in the order started. */
  processes: ServiceProcess[];
  /** Start one more process of the cluster (resolves once it is ready). */
  start(): Promise<ServiceProcess>;
  /** The admin token's JSON client on `p` (by default the process started last). */
  call(p?: ServiceProcess): Call;
  /** Kill every process (SIGCONT first, for a frozen one), delete this cluster's Redis keys, drop the database, stop the emulator. */
  close(): Promise<void>;
}

/**
 * Start the emulator, a fresh database and `processes` service processes on `redisUrl` (the
 * suite's own Redis prefix). Call in `beforeAll`, and `close()` in `afterAll`: it cleans up what
 * was started even when a later step failed.
 */
export async function startCluster(opts: { databaseUrl: string; redisUrl: string; processes?: number; env?: Record<string, string> }): Promise<TestCluster> {
  const google = await startGoogle();
  const processes: ServiceProcess[] = [];
  let db: TestCluster["db"] | undefined;
  let env: Record<string, string> = {};
  const cluster: TestCluster = {
    google,
    get db() {
      return db!;
    },
    get env() {
      return env;
    },
    processes,
    async start() {
      const p = await startService(env);
      processes.push(p);
      return p;
    },
    call: (p = processes.at(-1)!) => http(p.url, env.ADMIN_TOKEN!),
    async close() {
      await Promise.all(
        processes.map((p) => {
          if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGCONT");
          return p.kill("SIGKILL");
        }),
      );
      if (env.REDIS_PREFIX) {
        const redis = new Redis(opts.redisUrl);
        await wipeRedisPrefix(redis, env.REDIS_PREFIX).finally(() => redis.quit());
      }
      await db?.drop();
      await google.close();
    },
  };
  try {
    db = await freshPostgresDatabase(opts.databaseUrl);
    env = { ...clusterEnv({ databaseUrl: db.url, redisUrl: opts.redisUrl, google: google.env }), ...opts.env };
    await Promise.all(Array.from({ length: opts.processes ?? 1 }, () => cluster.start()));
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

/** Delete every key under `prefix` (never FLUSHALL: the server is shared); returns how many went. */
export async function wipeRedisPrefix(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
    if (keys.length) deleted += await redis.del(...keys);
  }
  return deleted;
}

export const MAIL_SCOPE = "https://mail.google.com/";

/**
 * Create each mailbox at the emulator (with `generate` messages when set), one iClient for the
 * callback URLs of the cluster's live processes, and per mailbox a Gmail connection
 * (mail.google.com, `connection`'s extra fields) authorized on the consent page through the
 * process started last. Returns the connection ids in the mailboxes' order.
 */
export async function connectMailboxes(
  cluster: TestCluster,
  mailboxes: Array<{ email: string; generate?: number }>,
  connection: Record<string, unknown> = {},
): Promise<string[]> {
  const via = cluster.processes.at(-1)!;
  const call = cluster.call(via);
  const alive = cluster.processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  const client = await cluster.google.newClient(alive.map((p) => `${p.url}/oauth2/callback`));
  const ic = await call("POST", "/v1/iclients", { name: "ic", application: "gmail", ...client });
  if (ic.status !== 201) throw new Error(`POST /v1/iclients answered ${ic.status}: ${JSON.stringify(ic.body)}`);
  const ids: string[] = [];
  for (const { email, generate } of mailboxes) {
    await cluster.google.admin("POST", "/users", { email, ...(generate ? { generate: { count: generate } } : {}) });
    const c = await call("POST", "/v1/connections", { name: email, application: "gmail", scopes: [MAIL_SCOPE], iClientId: ic.body.id, ...connection });
    if (c.status !== 201) throw new Error(`POST /v1/connections answered ${c.status}: ${JSON.stringify(c.body)}`);
    const { authorizeUrl } = (await call("POST", `/v1/connections/${c.body.id}/authorize`)).body;
    const done = await fetch((await consent(authorizeUrl, { email })).redirect);
    if (done.status !== 200) throw new Error(`the callback for ${email} answered ${done.status}: ${await done.text()}`);
    ids.push(c.body.id);
  }
  return ids;
}

/** An emulated message as the emulator's admin API lists it. */
export interface MailboxMessage {
  from: string;
  subject: string;
  labelIds: string[];
}

/** Every message of an emulated mailbox. */
export async function mailbox(google: TestGoogle, email: string): Promise<MailboxMessage[]> {
  return (await google.admin("GET", `/users/${encodeURIComponent(email)}`)).messages;
}

/** What a Gmail export lists by default: everything outside spam and trash. */
export const exportable = (m: MailboxMessage) => !m.labelIds.includes("SPAM") && !m.labelIds.includes("TRASH");

/** A run no longer queued or running. */
export const ended = (run: { status: string }) => !["queued", "running"].includes(run.status);

/**
 * Read `GET /v1/runs/:id` every `intervalMs` until `done(run)` holds or `timeoutMs` has passed,
 * and return the run last read either way: the caller asserts on it, so a run that never got
 * there fails on what it was.
 */
export async function pollRun(call: Call, runId: string, done: (run: any) => boolean | Promise<boolean>, opts: { timeoutMs: number; intervalMs: number }): Promise<any> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const run = (await call("GET", `/v1/runs/${runId}`)).body;
    if ((await done(run)) || Date.now() > deadline) return run;
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}
