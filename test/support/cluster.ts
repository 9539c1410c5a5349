/**
 * Real service processes (`server/main.ts`) sharing one PostgreSQL, one Redis
 * and one Google emulator: a cluster, as SPEC §1 describes it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Start one service process with `env`; resolves when /readyz answers 200. */
export async function startService(env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "mb-proc-"));
  const url = `http://127.0.0.1:${port}`;
  // node --import tsx (not the tsx CLI) so that a SIGKILL reaches the service itself.
  const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts"], {
    // As in test/support/app.ts: no pacing to Google's per-user quota unless a suite asks for it.
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", PUBLIC_URL: url, DATA_DIR: dataDir, LOG_LEVEL: "warn", GMAIL_USER_QUOTA_UNITS_PER_MINUTE: "1000000", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited early:\n${out}`);
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`service not ready in 30 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    output: () => out,
    async kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
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
