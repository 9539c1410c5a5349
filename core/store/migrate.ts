import { readdir, readFile } from "node:fs/promises";
import type { Db } from "./db.ts";

const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);
/** Arbitrary constant key of the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK_KEY = 7_262_010;

/**
 * Apply the ordered SQL files of `migrations/` that are not yet recorded in
 * `schema_migrations`, all in one transaction under an advisory lock, so two
 * processes starting at once on one PostgreSQL do not race.
 */
export async function migrate(db: Db): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  return db.tx(async (q) => {
    await q.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
    await q.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set((await q.query<{ id: number }>("SELECT id FROM schema_migrations")).map((r) => r.id));
    const applied: string[] = [];
    for (const file of files) {
      const id = Number.parseInt(file, 10);
      if (done.has(id)) continue;
      const sql = await readFile(new URL(file, MIGRATIONS_DIR), "utf8");
      for (const statement of splitStatements(sql)) await q.query(statement);
      await q.query("INSERT INTO schema_migrations (id, name) VALUES ($1, $2)", [id, file]);
      applied.push(file);
    }
    return applied;
  });
}

/** Split a migration on `;` at line ends (our migrations hold no procedural bodies). */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, "").trim())
    .filter(Boolean);
}
