/**
 * The in-process app in sandbox mode (`GOOGLE_SANDBOX`, the emulator mounted) listening on a real
 * port, as `npm start -- --sandbox` serves it: the mounted emulator's certs, pushes and callbacks go
 * over HTTP to `PUBLIC_URL`, so the port is fixed before the app starts (see {@link onFreePort}).
 */
import { prepareSandbox } from "../../server/sandbox.ts";
import { startTestApp, type TestApp } from "./app.ts";
import { onFreePort } from "./cluster.ts";

export async function startSandboxApp(env: Record<string, string> = {}): Promise<TestApp> {
  const t = await onFreePort(async (port) => {
    const app = await startTestApp({ env: { GOOGLE_SANDBOX: "true", PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, ...env } });
    await app.app.listen({ port, host: "127.0.0.1" }).catch(async (err) => (await app.close(), Promise.reject(err)));
    return app;
  });
  await prepareSandbox(t.app, t.config, { db: t.store.db, secrets: t.secrets });
  return t;
}
