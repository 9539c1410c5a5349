/**
 * Start the service: load config, open the store, bootstrap the admin account,
 * build the app and listen. SIGTERM and SIGINT close it gracefully.
 */
import { writeFile, mkdir } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { ConfigError, loadConfig } from "./config.ts";
import { openDb } from "../core/store/db.ts";
import { SecretBox, loadSecretsKey } from "../core/secrets.ts";
import { AccountStore } from "./accounts/account-store.ts";
import { buildApp } from "./app.ts";
import { Redis } from "ioredis";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  let onIdleError = (err: Error) => console.warn(`database connection lost: ${err.message}`);
  const db = await openDb({
    databaseUrl: config.databaseUrl,
    poolSize: config.databasePoolSize,
    dataDir: config.dataDir,
    onIdleError: (err) => onIdleError(err),
    role: "service",
  });
  const secrets = new SecretBox([await loadSecretsKey(config.secretsKey, config.dataDir)]);
  const { generatedToken } = await new AccountStore(db).bootstrap(config.adminToken);
  if (generatedToken) {
    const file = path.join(config.dataDir, "admin-token");
    await writeFile(file, generatedToken + "\n", { mode: 0o600 });
    // Printed once, on the first start; never logged.
    process.stdout.write(`\nAdmin API token (shown once, also saved to ${file}):\n  ${generatedToken}\n\n`);
  }
  const redis = config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 3 }) : undefined;
  const app = await buildApp(config, { db, secrets, redis });
  onIdleError = (err) => app.log.warn({ err }, "database connection lost; the pool opens a new one");
  if (config.sandbox) {
    await (await import("./sandbox.ts")).prepareSandbox(app, config, { db, secrets });
    process.stdout.write(`Sandbox: Google emulator at ${config.publicUrl}/sandbox/google, demo user demo@mailbridge.test, iClient "Sandbox client".\n`);
  }
  const shutdown = async (signal: string) => {
    app.log.info({ signal }, "shutting down");
    await app.close();
    await redis?.quit();
    await db.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  await app.listen({ port: config.port, host: config.host });
  // A second opener of DATA_DIR (npm run account) reaches this process here.
  await db.dataDirLock?.announce({ url: loopbackUrl(app.server.address()) });
  process.stdout.write(`Mailbridge listening on ${config.publicUrl}\n`);
}

/** Where a process on this host reaches the listening socket. */
function loopbackUrl(address: string | AddressInfo | null): string {
  if (!address || typeof address === "string") throw new Error("the service is not listening on TCP");
  const host = address.address === "0.0.0.0" ? "127.0.0.1" : address.address === "::" ? "::1" : address.address;
  return `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
