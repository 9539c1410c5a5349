/**
 * `npm run account -- create NAME`: create an account and print its API token
 * (shown this once; stored hashed).
 */
import { mkdir } from "node:fs/promises";
import { ConfigError, loadConfig } from "../config.ts";
import { openDb } from "../store/db.ts";
import { AccountStore } from "../accounts/account-store.ts";
import { ApiError } from "../errors.ts";

const USAGE = "usage: npm run account -- create NAME";

async function main(argv: string[]): Promise<number> {
  const [command, name] = argv;
  if (command !== "create" || !name || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig(process.env, []);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const accounts = new AccountStore(db);
    await accounts.bootstrap(config.adminToken);
    const created = await accounts.create(name);
    process.stdout.write(`Account ${created.name} (${created.id}) created.\nAPI token (shown once):\n  ${created.token}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ApiError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  } finally {
    await db.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof ConfigError ? err.message : err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
