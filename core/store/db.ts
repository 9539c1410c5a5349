/**
 * The store seam: one PostgreSQL dialect, two backends (embedded PGlite and
 * a PostgreSQL server through `pg`). Everything above this file writes SQL
 * that runs unchanged on both.
 */
import type { DataDirLock } from "./data-dir-lock.ts";

export interface Queryable {
  /** Run one statement with `$1..$n` parameters and return its rows. */
  query<R = Record<string, any>>(sql: string, params?: unknown[]): Promise<R[]>;
}

export interface Db extends Queryable {
  readonly kind: "pglite" | "postgres";
  /** Run `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** Embedded backend only: the lock on DATA_DIR this process holds while the database is open. */
  readonly dataDirLock?: DataDirLock;
}

export interface OpenDbOptions {
  /** PostgreSQL URL; when absent the embedded PGlite database in `dataDir` is used. */
  databaseUrl?: string;
  dataDir: string;
  /** PostgreSQL only: connections kept at most (10 when absent). */
  poolSize?: number;
  /** PostgreSQL only: told when an idle pooled connection is lost (the pool replaces it). */
  onIdleError?: (err: Error) => void;
  /** Embedded only: what this process is, as the DATA_DIR lock's owner record names it to a second opener. */
  role?: string;
}

/** Open the configured backend and apply pending migrations. */
export async function openDb(opts: OpenDbOptions): Promise<Db> {
  const db = opts.databaseUrl
    ? await (await import("./pg-db.ts")).openPostgres(opts.databaseUrl, opts.onIdleError, opts.poolSize)
    : await (await import("./pglite-db.ts")).openPglite(opts.dataDir, { role: opts.role });
  try {
    const { migrate } = await import("./migrate.ts");
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}

/** True when `err` is PostgreSQL's unique_violation. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === "23505";
}
