/**
 * The real service for UI tests, listening on a real port.
 *
 * `startServedApp()` is the in-process app of test/support/app.ts on port 0;
 * `startSandboxService()` runs `server/main.ts --sandbox` as a child process,
 * exactly as `npm start -- --sandbox` does (emulator mounted, demo client,
 * the **Sandbox client** iClient and the demo user seeded).
 */
import { randomBytes } from "node:crypto";
import { startTestApp, type TestApp } from "../../support/app.ts";
import { freePort, startService } from "../../support/cluster.ts";

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

/** The sandbox on the embedded database in a data directory of its own (test/support/cluster.ts's `startService`). */
export async function startSandboxService(): Promise<SandboxService> {
  const adminToken = `mb_ui_admin_${randomBytes(12).toString("hex")}`;
  const service = await startService({ ADMIN_TOKEN: adminToken, GOOGLE_SANDBOX: "true" }, { args: ["--sandbox"] });
  return { url: service.url, adminToken, emulator: `${service.url}/sandbox/google`, close: () => service.kill() };
}
