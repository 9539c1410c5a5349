import { createHash } from "node:crypto";
import pg from "pg";
import type { Db, Queryable } from "./db.ts";

// Return BIGINT (int8) columns as numbers: our counters stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/** A PostgreSQL server through a `pg` pool. */
export async function openPostgres(databaseUrl: string, onIdleError?: (err: Error) => void, poolSize = 10): Promise<Db> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize });
  // An idle client whose server connection ends (a PostgreSQL restart, a failover) is reported
  // here; without a listener it would crash the process. The pool drops that client and the next
  // query opens a new connection.
  pool.on("error", (err) => onIdleError?.(err));
  // Fail fast on a bad URL instead of on the first request.
  await pool.query("SELECT 1");
  const run = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query(sql, params) {
      // With parameters, a named (prepared) statement: each server connection parses and plans
      // it once instead of at every call (planning the trigger path's joins cost more server
      // CPU than running them). Without, a plain one: migrations send several statements at once.
      const res = params ? await c.query({ name: statementName(sql), text: sql, values: params as any[] }) : await c.query(sql);
      return res.rows;
    },
  });
  return {
    kind: "postgres",
    ...run(pool),
    async tx(fn) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(run(client));
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/** A prepared statement's name: one per SQL text (the texts are the code's own, a bounded set). */
const names = new Map<string, string>();
function statementName(sql: string): string {
  let name = names.get(sql);
  if (!name) {
    name = `mb_${createHash("sha256").update(sql).digest("base64url").slice(0, 22)}`;
    names.set(sql, name);
  }
  return name;
}
