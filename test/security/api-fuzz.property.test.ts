/**
 * Property, generated from the OpenAPI document (GET /docs/json): for every
 * operation, requests with hostile bodies, path parameters, query strings and
 * headers (see openapi-arbitraries.ts), sent by an account that owns some of
 * the ids it tries and not others, never answer 5xx; every error is in the
 * API's shape; no answer and no log line carries a secret or a stack frame;
 * and the other account's data, compared whole, is exactly as it was.
 *
 * Seeded and bounded: FUZZ_SEED and FUZZ_RUNS (runs per operation) change
 * them; raise FUZZ_RUNS when hunting.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { connectionBody, iClientBody } from "../resources/fixtures.ts";
import { fieldByField, operationsOf, requestsFor, validJson, type FuzzContext, type FuzzRequest, type Operation } from "./openapi-arbitraries.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 1717);
const RUNS = Number(process.env.FUZZ_RUNS ?? 25);
const VICTIM_SECRET = "GOCSPX-victim-secret-4Q8zT1";
const OWN_SECRET = "GOCSPX-attacker-secret-9Lm2Xc";
const STACK_FRAME = /\bat (?:async )?[^\n]*?\(?(?:file:\/\/)?\/[^\s)]+:\d+:\d+\)?|node_modules\//;

// Built at load time: the operations, read from the app's own document, name the tests.
const t: TestApp = await startTestApp();
const ops: Operation[] = operationsOf((await t.app.inject({ url: "/docs/json" })).json());

describe("the API under generated hostile input", () => {
  let ctx: FuzzContext;
  /** The attacker's own id per collection, for requests that should get past the 404. */
  let own: Record<string, string>;
  let victimId: string;
  let secrets: string[];
  let before: string;
  let logsBefore: number;

  /** Every row of the victim account: each table's rows by account, or by the account's flows. */
  async function victimSnapshot(): Promise<string> {
    const columns = await t.store.db.query<{ table_name: string; column_name: string }>(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()",
    );
    const tables = new Map<string, Set<string>>();
    for (const c of columns) tables.set(c.table_name, (tables.get(c.table_name) ?? new Set()).add(c.column_name));
    const out: Record<string, unknown[]> = {};
    for (const [table, cols] of [...tables].sort(([a], [b]) => a.localeCompare(b))) {
      if (table === "accounts") out[table] = await t.store.db.query("SELECT * FROM accounts WHERE id = $1", [victimId]);
      else if (cols.has("account_id")) out[table] = await t.store.db.query(`SELECT * FROM ${table} WHERE account_id = $1 ORDER BY 1, 2`, [victimId]);
      else if (cols.has("flow_id")) {
        out[table] = await t.store.db.query(`SELECT * FROM ${table} WHERE flow_id IN (SELECT id FROM flows WHERE account_id = $1) ORDER BY 1, 2`, [victimId]);
      }
    }
    return JSON.stringify(out);
  }

  /** A flow reading from `source` and sending to it, through the API. */
  async function createWorld(token: string, label: string, secret: string) {
    const a = api(t.app, token);
    const iclient = (await a.post("/v1/iclients", iClientBody(`${label}-client`, { clientSecret: secret }))).json().id as string;
    const lender = (await a.post("/v1/connections", connectionBody(`${label}-lender`, iclient))).json().id as string;
    const borrower = (await a.post("/v1/connections", connectionBody(`${label}-borrower`, iclient, { borrowConcurrencyFrom: lender }))).json().id as string;
    const flowRes = await a.post("/v1/flows", {
      name: `${label}-flow`,
      source: { connectionId: lender, export: { query: "from:someone", maxMessages: 5 } },
      destinations: [{ connectionId: lender, import: { action: "send" }, mapping: { to: "a@example.com", subject: "{{subject}}" } }],
    });
    expect(flowRes.statusCode, flowRes.body).toBe(201);
    const flow = flowRes.json().id as string;
    const runId = (await a.post(`/v1/flows/${flow}/run`)).json().runId as string;
    // The run fails at once (the connection was never authorized): wait until it is settled.
    await vi.waitFor(async () => expect(["failed", "succeeded", "canceled"]).toContain((await a.get(`/v1/runs/${runId}`)).json().status), { timeout: 20_000, interval: 50 });
    return [iclient, lender, borrower, flow, runId];
  }

  beforeAll(async () => {
    const victim = await t.newAccount("victim");
    const attacker = await t.newAccount("attacker");
    victimId = (await api(t.app, victim).get("/v1/me")).json().id;
    const victimIds = await createWorld(victim, "victim", VICTIM_SECRET);
    const ownIds = await createWorld(attacker, "own", OWN_SECRET);
    ctx = { ids: [...ownIds, ...victimIds, "con_0123456789abcdef0123"], ownIds, authorizations: [`Bearer ${attacker}`, `Bearer ${t.adminToken}`] };
    own = { iclients: ownIds[0]!, connections: ownIds[1]!, flows: ownIds[3]!, runs: ownIds[4]! };
    secrets = [victim, attacker, t.adminToken, VICTIM_SECRET, OWN_SECRET];
    before = await victimSnapshot();
    logsBefore = t.logs.length;
  }, 120_000);
  afterAll(() => t.close());

  /**
   * A body the API accepts for `op` (so that hostile values put in it get past every other check,
   * down to the store): generated valid ones, each repaired by dropping the field a 400 names
   * (an optional part the generator got wrong) until one is accepted; the first if none is.
   */
  async function acceptedBody(op: Operation, url: string): Promise<string> {
    const candidates = fc.sample(validJson(op.body!, ctx, 0, true), { seed: SEED, numRuns: 40 });
    for (const candidate of candidates) {
      const value = JSON.parse(candidate);
      for (let attempt = 0; attempt < 8; attempt++) {
        const payload = JSON.stringify(value);
        const res = await t.app.inject({ method: op.method as any, url, headers: { authorization: ctx.authorizations[0]!, "content-type": "application/json" }, payload });
        if (res.statusCode < 300) return payload;
        const field: unknown = res.statusCode === 400 ? res.json().error?.details?.[0]?.field : undefined;
        if (typeof field !== "string" || !field.startsWith("body.") || !dropAt(value, field.slice(5).split("."))) break;
      }
    }
    return candidates[0]!;
  }

  function dropAt(value: any, path: string[]): boolean {
    let node = value;
    for (const key of path.slice(0, -1)) node = node?.[key];
    const last = path[path.length - 1]!;
    if (node === null || typeof node !== "object" || !(last in node)) return false;
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
    return true;
  }

  async function check(op: Operation, req: FuzzRequest): Promise<void> {
    const res = await t.app.inject({ method: req.method as any, url: req.url, headers: req.headers, ...(req.payload !== undefined ? { payload: req.payload } : {}) });
    const what = `${req.method} ${req.url.slice(0, 200)} ${JSON.stringify(req.headers).slice(0, 200)} ${String(req.payload).slice(0, 200)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
    expect(res.statusCode, what).toBeLessThan(500);
    for (const s of secrets) expect(res.body.includes(s), `a secret in the answer: ${what}`).toBe(false);
    expect(res.body, what).not.toMatch(STACK_FRAME);
    const json = String(res.headers["content-type"] ?? "").startsWith("application/json");
    if (res.statusCode >= 400) {
      // The OAuth callback answers its popup page as HTML, by design.
      if (op.path === "/oauth2/callback" && !json) return;
      expect(json, what).toBe(true);
      const body = res.json();
      expect(Object.keys(body), what).toEqual(["error"]);
      expect(body.error, what).toEqual({ code: expect.stringMatching(/^[a-z_]+$/), message: expect.any(String), ...("details" in body.error ? { details: body.error.details } : {}) });
    }
  }

  it("reads every operation from the OpenAPI document", () => {
    expect(ops.length).toBeGreaterThan(25);
    expect(ops.some((o) => o.body && o.pathParams.length)).toBe(true);
  });

  it.each(ops.map((op, i) => [`${op.method} ${op.path}`, op, i] as const))("%s: no 5xx, the error shape, no secret or stack", async (_name, op, i) => {
    const url = op.path.replace(/\{[^}]+\}/g, () => own[op.path.split("/")[2]!] ?? ctx.ids[0]!);
    const examples = op.body ? fieldByField(op, url, ctx.authorizations[0]!, await acceptedBody(op, url)).map((r): [FuzzRequest] => [r]) : [];
    // Examples count among the runs: the random ones come on top.
    await fc.assert(fc.asyncProperty(requestsFor(op, ctx), (req) => check(op, req)), { seed: SEED + i, numRuns: examples.length + RUNS, examples, endOnFailure: true });
  }, 60_000);

  it("wrote no secret and no stack frame to the log", () => {
    const lines = t.logs.slice(logsBefore);
    expect(lines.length).toBeGreaterThan(100);
    for (const line of lines) {
      for (const s of secrets) expect(line.includes(s), line.slice(0, 500)).toBe(false);
      expect(line).not.toMatch(STACK_FRAME);
    }
  });

  it("left the other account's data exactly as it was", async () => {
    expect(await victimSnapshot()).toBe(before);
  });
});
