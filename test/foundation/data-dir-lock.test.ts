/**
 * One owner per embedded DATA_DIR (SPEC §2), with real processes: a second
 * start stops and names the holder, `npm run account` goes through the
 * running service, and a SIGKILLed holder never blocks the next start.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startService, http, type ServiceProcess } from "../support/cluster.ts";
import { DataDirInUseError, lockDataDir } from "../../core/store/data-dir-lock.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
// Each case starts real processes (PGlite init and migrations); a busy machine takes its time.
const TIMEOUT = 180_000;

/** Variables that would take a process off the embedded database or fix its admin token. */
const CLEARED = ["DATABASE_URL", "REDIS_URL", "ADMIN_TOKEN", "SECRETS_KEY"];

/** Run a TypeScript entry point (as cluster.ts starts the service) to its end. */
function run(entry: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", ...env };
  for (const key of CLEARED) if (!(key in env)) delete childEnv[key];
  const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], { cwd: REPO, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, output })));
}

const services: ServiceProcess[] = [];
const dirs: string[] = [];

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "mb-lock-"));
  dirs.push(dir);
  return dir;
}

async function start(dir: string): Promise<ServiceProcess> {
  // Empty strings fail config validation, so these are only ever absent here.
  for (const key of CLEARED) expect(process.env[key], `${key} must not be set for this suite`).toBeUndefined();
  const service = await startService({ DATA_DIR: dir });
  services.push(service);
  return service;
}

const adminToken = async (dir: string) => (await readFile(path.join(dir, "admin-token"), "utf8")).trim();

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.kill("SIGKILL")));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe("DATA_DIR lock", () => {
  it("is taken once per directory and given back on release, within one process too", async () => {
    const dir = await dataDir();
    const lock = await lockDataDir(dir, { role: "test" });
    const second = await lockDataDir(path.join(dir, "."), { role: "test" }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(DataDirInUseError);
    expect((second as DataDirInUseError).owner).toMatchObject({ pid: process.pid, role: "test" });
    expect((second as Error).message).toContain(`pid ${process.pid}`);
    await lock.release();
    const again = await lockDataDir(dir);
    await again.release();
  });

  it(
    "the portable socket-file fallback: held while its process lives, stale after a SIGKILL",
    async () => {
      const dir = await dataDir();
      const holder = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "--input-type=module",
          "-e",
          `const { lockDataDir } = await import(${JSON.stringify(path.join(REPO, "core/store/data-dir-lock.ts"))});
           await lockDataDir(${JSON.stringify(dir)}, { role: "holder", socketFile: true });
           console.log("locked");
           setInterval(() => {}, 60_000);`,
        ],
        { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] },
      );
      const exited = new Promise((r) => holder.once("exit", r));
      try {
        await new Promise<void>((resolve, reject) => {
          holder.stdout.on("data", (d) => String(d).includes("locked") && resolve());
          holder.once("exit", (code) => reject(new Error(`the holder exited with ${code}`)));
        });
        const refused = await lockDataDir(dir, { socketFile: true }).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(DataDirInUseError);
        expect((refused as DataDirInUseError).owner).toMatchObject({ pid: holder.pid, role: "holder" });
      } finally {
        holder.kill("SIGKILL");
        await exited;
      }
      // The killed holder left its socket file behind; it must not block.
      expect((await stat(path.join(dir, "mailbridge.sock"))).isSocket()).toBe(true);
      const lock = await lockDataDir(dir, { socketFile: true });
      expect(lock.owner.pid).toBe(process.pid);
      await lock.release();
    },
    TIMEOUT,
  );

  it(
    "a second start on the same DATA_DIR stops with a message naming the holder; the first keeps serving",
    async () => {
      const dir = await dataDir();
      const first = await start(dir);
      const second = await run("server/main.ts", [], { DATA_DIR: dir, PORT: "0", HOST: "127.0.0.1" });
      expect(second.code).not.toBe(0);
      expect(second.output).toContain(`DATA_DIR ${dir} is in use by Mailbridge service pid ${first.child.pid}`);
      expect(second.output).toContain(`listening on ${first.url}`);
      expect(second.output).toContain("stop it first or use its API");
      expect(second.output).not.toMatch(/\n\s+at /); // no stack trace
      const me = await http(first.url, await adminToken(dir))("GET", "/v1/me");
      expect(me).toMatchObject({ status: 200, body: { name: "default" } });
    },
    TIMEOUT,
  );

  it(
    "npm run account -- create goes through the running service; its token works at once and after a restart",
    async () => {
      const dir = await dataDir();
      const first = await start(dir);
      const cli = await run("server/cli/account.ts", ["create", "acme"], { DATA_DIR: dir });
      expect(cli.output).toMatch(/Account acme \(acc_\w+\) created\./);
      expect(cli.code).toBe(0);
      const token = /API token \(shown once\):\n\s+(\S+)/.exec(cli.output)![1]!;
      expect(await http(first.url, token)("GET", "/v1/me")).toMatchObject({ status: 200, body: { name: "acme", isAdmin: false } });

      const again = await run("server/cli/account.ts", ["create", "acme"], { DATA_DIR: dir });
      expect(again).toMatchObject({ code: 1 });
      expect(again.output).toContain('An account named "acme" already exists.');

      await first.kill("SIGTERM");
      const restarted = await start(dir);
      expect(await http(restarted.url, token)("GET", "/v1/me")).toMatchObject({ status: 200, body: { name: "acme" } });
    },
    TIMEOUT,
  );

  it(
    "npm run account -- create opens the database itself when no service runs, and the service then knows the account",
    async () => {
      const dir = await dataDir();
      const cli = await run("server/cli/account.ts", ["create", "solo"], { DATA_DIR: dir });
      expect(cli.code).toBe(0);
      const token = /API token \(shown once\):\n\s+(\S+)/.exec(cli.output)![1]!;
      // The CLI bootstrapped the admin account: its token is kept, not lost.
      const admin = await adminToken(dir);
      expect(cli.output).toContain(admin);
      const service = await start(dir);
      expect(await http(service.url, token)("GET", "/v1/me")).toMatchObject({ status: 200, body: { name: "solo" } });
      expect(await http(service.url, admin)("GET", "/v1/me")).toMatchObject({ status: 200, body: { name: "default", isAdmin: true } });
    },
    TIMEOUT,
  );

  it(
    "after a SIGKILL the next start takes the directory and the data is intact",
    async () => {
      const dir = await dataDir();
      const first = await start(dir);
      const created = await http(first.url, await adminToken(dir))("POST", "/v1/accounts", { name: "kept" });
      expect(created.status).toBe(201);
      await first.kill("SIGKILL");
      // The killed holder's owner record is still there; it must not block.
      expect(JSON.parse(await readFile(path.join(dir, "owner.json"), "utf8"))).toMatchObject({ pid: first.child.pid });

      const next = await start(dir);
      expect(await http(next.url, created.body.token)("GET", "/v1/me")).toMatchObject({ status: 200, body: { name: "kept" } });
      expect(JSON.parse(await readFile(path.join(dir, "owner.json"), "utf8"))).toMatchObject({ pid: next.child.pid, url: next.url });
    },
    TIMEOUT,
  );
});
