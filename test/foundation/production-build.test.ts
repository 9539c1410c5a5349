/**
 * The production build (`npm run build:server`, run by `npm ci` through
 * `prepare`): compiled JavaScript that plain `node` runs, with no tsx and no
 * Vite at run time. Builds into a fresh folder inside the repository (so the
 * compiled files resolve `node_modules` and `"type": "module"` as `dist/` does),
 * then starts the compiled service, account CLI and emulator as `npm start`,
 * `npm run account` and `npm run emulator` do.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onFreePort } from "../support/cluster.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** Bounds a hang only; a healthy build or start takes seconds. */
const HANG_MS = 120_000;

let out: string;
let dataDir: string;

beforeAll(async () => {
  await mkdir(path.join(REPO, "test-artifacts"), { recursive: true });
  out = await mkdtemp(path.join(REPO, "test-artifacts", "build-"));
  dataDir = await mkdtemp(path.join(tmpdir(), "mb-build-data-"));
  const build = spawnSync(process.execPath, ["scripts/build-server.mjs", out], { cwd: REPO, encoding: "utf8" });
  expect(build.status, `${build.stdout}${build.stderr}`).toBe(0);
}, HANG_MS);

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
  await rm(dataDir, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

interface Running {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** `node <out>/<script> ...args`, resolved once `ready(output)` matches or the child exits. */
function run(script: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<Running & { match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [path.join(out, script), ...args], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} not ready:\n${output}`)), HANG_MS);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = output.match(ready);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        url: match[1] ?? "",
        match,
        child,
        output: () => output,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          await exited;
        },
      });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${child.exitCode}:\n${output}`));
    });
  });
}

async function startService(args: string[] = []) {
  return onFreePort((port) => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, LOG_LEVEL: "warn" };
    for (const key of ["DATABASE_URL", "REDIS_URL", "SECRETS_KEY", "ADMIN_TOKEN", "PUBLIC_URL", "GOOGLE_SANDBOX", "NODE_OPTIONS"]) delete env[key];
    return run("server/main.js", args, env, /Mailbridge listening on (\S+)/);
  });
}

describe("the production build", () => {
  it("is JavaScript that imports no TypeScript, with the migrations and the web panel beside it", async () => {
    const files = await filesUnder(out);
    const js = files.filter((f) => f.endsWith(".js"));
    expect(js.map((f) => path.relative(out, f))).toEqual(expect.arrayContaining(["server/main.js", "server/cli/account.js", "emulator/main.js"]));
    expect(files.filter((f) => /\.[cm]?tsx?$/.test(f))).toEqual([]);
    for (const file of js) {
      const source = await readFile(file, "utf8");
      // Static and dynamic relative imports were rewritten from `.ts` to `.js`.
      expect(source, path.relative(out, file)).not.toMatch(/(?:from\s*|import\s*\(?\s*)["']\.{1,2}\/[^"']*\.tsx?["']/);
    }
    expect(files.some((f) => f.endsWith(".sql"))).toBe(true);
    expect(files).toContain(path.join(out, "web/dist/index.html"));
  });

  it("starts with plain node on a new data dir: migrations applied, panel and API served, sandbox mounted", async () => {
    const service = await startService(["--sandbox"]);
    try {
      expect(service.output()).toMatch(/Admin API token/);
      const token = (await readFile(path.join(dataDir, "admin-token"), "utf8")).trim();
      const panel = await fetch(`${service.url}/`, { headers: { accept: "text/html" } });
      expect(panel.status).toBe(200);
      const html = await panel.text();
      const asset = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
      expect(asset, html).toBeDefined();
      expect((await fetch(`${service.url}${asset}`)).status).toBe(200);
      const iclients = await fetch(`${service.url}/v1/iclients`, { headers: { authorization: `Bearer ${token}` } });
      expect(iclients.status).toBe(200);
      const body = (await iclients.json()) as { items: { name: string }[] };
      expect(body.items.map((i) => i.name)).toContain("Sandbox client");
      const emulatorAdmin = await fetch(`${service.url}/sandbox/google/_admin/settings`, { headers: { authorization: `Bearer ${token}` } });
      expect(emulatorAdmin.status).toBe(200);
      expect((await fetch(`${service.url}/docs/json`)).status).toBe(200);
    } finally {
      await service.stop();
    }
  }, HANG_MS);

  it("runs the account CLI, and the service restarts on the existing data dir with the new account", async () => {
    const cliEnv: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir };
    for (const key of ["DATABASE_URL", "REDIS_URL", "SECRETS_KEY", "ADMIN_TOKEN", "NODE_OPTIONS"]) delete cliEnv[key];
    const cli = spawnSync(process.execPath, [path.join(out, "server/cli/account.js"), "create", "acme"], { cwd: REPO, env: cliEnv, encoding: "utf8" });
    expect(cli.status, cli.stderr).toBe(0);
    const token = cli.stdout.match(/^\s+(\S+)\s*$/m)?.[1];
    expect(token, cli.stdout).toBeDefined();

    const started = performance.now();
    const service = await startService();
    const startMs = performance.now() - started;
    try {
      console.log(`compiled service on an existing data dir: listening after ${Math.round(startMs)} ms`);
      expect(service.output()).not.toMatch(/Admin API token/);
      const res = await fetch(`${service.url}/v1/iclients`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    } finally {
      await service.stop();
    }
  }, HANG_MS);

  it("runs the emulator alone", async () => {
    const emulator = await run("emulator/main.js", ["--port", "0"], { ...process.env }, /^(http:\/\/\S+)$/m);
    try {
      const settings = await fetch(`${emulator.url}/_admin/settings`);
      expect(settings.status).toBe(200);
    } finally {
      await emulator.stop();
    }
  }, HANG_MS);
});
