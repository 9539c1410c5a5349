/**
 * A failed SQL statement is logged with its statement and SQLSTATE code, never
 * with its parameter values or the row data PostgreSQL quotes back (PGlite and
 * pg errors, alone or as the cause of an API error), through the service's
 * own logger options.
 */
import Fastify from "fastify";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loggerOptions } from "../../server/logger.ts";
import { ApiError } from "../../core/errors.ts";
import { backends, type TestDb } from "../support/db.ts";

const SECRET = "user-data-4f1c-subject-line";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
  const app = Fastify({ logger: { ...(loggerOptions("info") as object), stream } as any });
  return { log: app.log, lines };
}

async function failure(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (err) {
    return err as Error;
  }
  throw new Error("the statement did not fail");
}

describe.each(backends)("SQL errors in logs ($name)", (backend) => {
  let store: TestDb;
  beforeAll(async () => {
    store = await backend.open();
    await store.db.query("CREATE TABLE log_probe (name text UNIQUE, n integer)");
    await store.db.query("INSERT INTO log_probe (name, n) VALUES ($1, 1)", [SECRET]);
  });
  afterAll(() => store?.close());

  it("keeps the statement and the code, drops parameter values and quoted row data", async () => {
    const errors = [
      ["23505", await failure(() => store.db.query("INSERT INTO log_probe (name, n) VALUES ($1, 2)", [SECRET]))],
      ["22P02", await failure(() => store.db.query("SELECT * FROM log_probe WHERE n = $1::integer", [SECRET]))],
      ["22021", await failure(() => store.db.query("SELECT * FROM log_probe WHERE name = $1", [`${SECRET}\u0000`]))],
    ] as const;
    for (const [code, err] of errors) {
      const { log, lines } = capture();
      // It is really there to leak: the raw error carries the value somewhere (pg does not send the NUL one).
      if (backend.name === "pglite" || code !== "22021") expect(JSON.stringify({ ...err, message: err.message }), code).toContain(SECRET.slice(0, 12));
      log.error({ err }, "query failed");
      log.error({ err: new ApiError("internal_error", undefined, undefined, { cause: err }) }, "request failed");
      const out = lines.join("");
      expect(out, code).not.toContain(SECRET.slice(0, 12));
      const first = JSON.parse(lines[0]!);
      expect(first.err.code, code).toBe(code);
      expect(out).toContain("query failed");
      if (backend.name === "pglite") expect(first.err.query, code).toMatch(/log_probe/);
    }
  });

  it("leaves other errors as pino serializes them", () => {
    const { log, lines } = capture();
    log.error({ err: Object.assign(new Error("plain failure"), { code: "ECONNREFUSED", detail: "kept" }) }, "x");
    expect(JSON.parse(lines[0]!).err).toMatchObject({ message: "plain failure", code: "ECONNREFUSED", detail: "kept" });
  });
});
