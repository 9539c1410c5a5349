/**
 * The real service for UI tests, listening on a real port.
 *
 * `startServedApp()` is the in-process app of test/support/app.ts on port 0;
 * `startSandboxService()` runs `server/main.ts --sandbox` as a child process,
 * exactly as `npm start -- --sandbox` does (emulator mounted, demo client,
 * the **Sandbox client** iClient and the demo user seeded).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startTestApp, type TestApp } from "../../support/app.ts";
import { freePort } from "../../support/cluster.ts";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));

export interface ServedApp {
  url: string;
  adminToken: string;
  close(): Promise<void>;
}

/** The in-process app on a real port, with its {@link TestApp} for direct calls. */
export type InProcessService = ServedApp & { test: TestApp };
/** `server/main.ts --sandbox` as a child process; `emulator` is its mounted Google emulator. */
export type SandboxService = ServedApp & { emulator: string };

export async function startServedApp(): Promise<InProcessService> {
  const test = await startTestApp();
  const address = await test.app.listen({ port: 0, host: "127.0.0.1" });
  return { url: address, adminToken: test.adminToken, test, close: () => test.close() };
}

export { freePort };

export async function startSandboxService(): Promise<SandboxService> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = await mkdtemp(path.join(tmpdir(), "mailbridge-ui-data-"));
  const adminToken = `mb_ui_admin_${randomBytes(12).toString("hex")}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    PUBLIC_URL: url,
    DATA_DIR: dataDir,
    ADMIN_TOKEN: adminToken,
    GOOGLE_SANDBOX: "true",
    LOG_LEVEL: "warn",
  };
  for (const key of ["DATABASE_URL", "REDIS_URL", "SECRETS_KEY", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"]) delete env[key];
  const child = spawn(process.execPath, [path.join(REPO, "node_modules/tsx/dist/cli.mjs"), "server/main.ts", "--sandbox"], {
    cwd: REPO,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: false,
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  try {
    await waitUntilReady(child, `${url}/healthz`, () => output);
  } catch (err) {
    child.kill("SIGKILL");
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    adminToken,
    emulator: `${url}/sandbox/google`,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function waitUntilReady(child: ChildProcess, url: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 120_000; // bounds a hang; a start takes seconds
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}:\n${output()}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`the service did not become ready within 120 s:\n${output()}`);
}
