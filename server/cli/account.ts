/**
 * `npm run account -- create NAME`: create an account and print its API token
 * (shown this once; stored hashed).
 *
 * The embedded database belongs to one process (SPEC §2). When the service
 * holds DATA_DIR, the account is created through it: `POST /v1/accounts` on
 * the loopback address its lock announces, with the admin token (ADMIN_TOKEN,
 * or DATA_DIR/admin-token). Otherwise this command takes the lock itself and
 * opens the database directly; with DATABASE_URL it always does.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { ConfigError, loadConfig, type Config } from "../config.ts";
import { openDb, type Db } from "../../core/store/db.ts";
import { DataDirInUseError, type DataDirOwner } from "../../core/store/data-dir-lock.ts";
import { AccountStore } from "../accounts/account-store.ts";
import { ApiError } from "../../core/errors.ts";

const USAGE = "usage: npm run account -- create NAME";
/** How long to wait for a service that holds DATA_DIR but does not listen yet (it is starting). */
const DEFAULT_STARTING_WAIT_MS = 30_000;
const RETRY_MS = 250;
const REQUEST_TIMEOUT_MS = 10_000;

interface Created {
  id: string;
  name: string;
  token: string;
}

/** A failure to tell the user as is (no stack). */
class CliError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, name] = argv;
  if (command !== "create" || !name || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig(process.env, []);
  let created: Created;
  try {
    created = await createAccount(config, name);
  } catch (err) {
    if (err instanceof ApiError || err instanceof CliError || err instanceof DataDirInUseError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
  process.stdout.write(`Account ${created.name} (${created.id}) created.\nAPI token (shown once):\n  ${created.token}\n`);
  return 0;
}

async function createAccount(config: Readonly<Config>, name: string): Promise<Created> {
  if (config.databaseUrl) return createDirectly(await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }), config, name);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const deadline = Date.now() + DEFAULT_STARTING_WAIT_MS;
  for (;;) {
    let db: Db;
    try {
      db = await openDb({ dataDir: config.dataDir, role: "account CLI" });
    } catch (err) {
      if (!(err instanceof DataDirInUseError)) throw err;
      if (err.owner?.url) return createThroughService(err.owner as DataDirOwner & { url: string }, config, name);
      // The holder is starting (or is another short command): wait for it to listen or to leave.
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, RETRY_MS));
      continue;
    }
    return createDirectly(db, config, name);
  }
}

async function createDirectly(db: Db, config: Readonly<Config>, name: string): Promise<Created> {
  try {
    const accounts = new AccountStore(db);
    const { generatedToken } = await accounts.bootstrap(config.adminToken);
    if (generatedToken) {
      // Same as the service's first start: the admin token is kept and shown once, never lost.
      const file = path.join(config.dataDir, "admin-token");
      await writeFile(file, generatedToken + "\n", { mode: 0o600 });
      process.stdout.write(`Admin API token of the "default" account (shown once, also saved to ${file}):\n  ${generatedToken}\n`);
    }
    const { id, name: created, token } = await accounts.create(name);
    return { id, name: created, token };
  } finally {
    await db.close();
  }
}

async function createThroughService(owner: DataDirOwner & { url: string }, config: Readonly<Config>, name: string): Promise<Created> {
  const holder = `the running service (pid ${owner.pid}, ${owner.url})`;
  const token = config.adminToken ?? (await readAdminToken(config.dataDir));
  if (!token) {
    throw new CliError(
      `DATA_DIR ${config.dataDir} is in use by ${holder}; to create the account through it, set ADMIN_TOKEN ` +
        `(no ${path.join(config.dataDir, "admin-token")} to read).`,
    );
  }
  let res: Response;
  try {
    res = await fetch(`${owner.url}/v1/accounts`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new CliError(`DATA_DIR ${config.dataDir} is in use by ${holder}, which did not answer: ${(err as Error).message}`);
  }
  const body = (await res.json().catch(() => undefined)) as { error?: { message?: string } } & Partial<Created>;
  if (res.status === 201 && body?.token && body.id && body.name) return { id: body.id, name: body.name, token: body.token };
  if (res.status === 401 || res.status === 403) {
    throw new CliError(`${holder} refused the admin token (ADMIN_TOKEN or ${path.join(config.dataDir, "admin-token")}).`);
  }
  throw new CliError(body?.error?.message ?? `${holder} answered ${res.status}.`);
}

async function readAdminToken(dataDir: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(dataDir, "admin-token"), "utf8")).trim() || undefined;
  } catch {
    return undefined;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof ConfigError ? err.message : err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
