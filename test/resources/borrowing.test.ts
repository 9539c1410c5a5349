import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { backends } from "../support/db.ts";
import { ConnectionStore } from "../../server/connections/connection-store.ts";
import { ApiError } from "../../core/errors.ts";
import { connectionBody, iClientBody, snapshot } from "./fixtures.ts";

describe.each(backends)("concurrency borrowing ($name)", (backend) => {
  let t: TestApp;
  let a: ReturnType<typeof api>;
  let ic: string;
  const create = async (name: string, extra: Record<string, unknown> = {}) => {
    const res = await a.post("/v1/connections", connectionBody(name, ic, extra));
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  };
  beforeAll(async () => {
    t = await startTestApp({ backend });
    a = api(t.app, t.adminToken);
    ic = (await a.post("/v1/iclients", iClientBody("borrow-client"))).json().id;
  });
  afterAll(() => t.close());

  it("resolves a borrowing chain to the lender at its end, and follows level changes", async () => {
    const lender = await create("lender", { concurrencyLevel: 3 });
    const middle = await create("middle", { borrowConcurrencyFrom: lender.id });
    const end = await create("end", { borrowConcurrencyFrom: middle.id });
    expect(middle).toMatchObject({ borrowConcurrencyFrom: lender.id, concurrencyLevel: null, effectiveConcurrency: 3 });
    expect(end).toMatchObject({ borrowConcurrencyFrom: middle.id, concurrencyLevel: null, effectiveConcurrency: 3 });
    await a.patch(`/v1/connections/${lender.id}`, { concurrencyLevel: 12 });
    expect((await a.get(`/v1/connections/${end.id}`)).json().effectiveConcurrency).toBe(12);

    const store = new ConnectionStore(t.store.db);
    const me = (await a.get("/v1/me")).json();
    expect(await store.resolvePool(me.id, end.id)).toEqual({ poolId: lender.id, limit: 12 });
    expect(await store.resolvePool(me.id, lender.id)).toEqual({ poolId: lender.id, limit: 12 });
    await expect(store.resolvePool(me.id, "con_nope")).rejects.toBeInstanceOf(ApiError);
    expect((await store.get(me.id, end.id)).effectiveConcurrency).toBe(12);

    // Stop borrowing: its own level (default 5) applies again.
    const freed = (await a.patch(`/v1/connections/${end.id}`, { borrowConcurrencyFrom: null })).json();
    expect(freed).toMatchObject({ borrowConcurrencyFrom: null, concurrencyLevel: 5, effectiveConcurrency: 5 });
  });

  it("refuses a borrower that also sets its own level (400)", async () => {
    const lender = await create("lender-2");
    const both = await a.post("/v1/connections", connectionBody("both", ic, { borrowConcurrencyFrom: lender.id, concurrencyLevel: 4 }));
    expect(both.statusCode).toBe(400);
    expect(both.json().error.code).toBe("invalid_borrowing");
    const borrower = await create("borrower-2", { borrowConcurrencyFrom: lender.id });
    const setLevel = await a.patch(`/v1/connections/${borrower.id}`, { concurrencyLevel: 7 });
    expect(setLevel.statusCode).toBe(400);
    expect(setLevel.json().error.code).toBe("invalid_borrowing");
    // Leaving the lender and setting a level in one request is fine.
    expect((await a.patch(`/v1/connections/${borrower.id}`, { borrowConcurrencyFrom: null, concurrencyLevel: 7 })).json().effectiveConcurrency).toBe(7);
  });

  it("rejects cycles, including borrowing from itself, and leaves everything as it was", async () => {
    const x = await create("cycle-x");
    const y = await create("cycle-y", { borrowConcurrencyFrom: x.id });
    const z = await create("cycle-z", { borrowConcurrencyFrom: y.id });
    const before = await snapshot(t);
    for (const [id, lender] of [[x.id, z.id], [x.id, y.id], [x.id, x.id]]) {
      const res = await a.patch(`/v1/connections/${id}`, { borrowConcurrencyFrom: lender, name: "renamed-in-refused-request" });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe("invalid_borrowing");
    }
    expect(await snapshot(t)).toBe(before);
  });

  it("answers 404 for a lender that does not exist", async () => {
    const res = await a.post("/v1/connections", connectionBody("ghost-borrower", ic, { borrowConcurrencyFrom: "con_ghost" }));
    expect(res.statusCode).toBe(404);
  });

  it("refuses to delete a lender (409 naming its borrowers)", async () => {
    const lender = await create("busy-lender");
    const b1 = await create("busy-b1", { borrowConcurrencyFrom: lender.id });
    const res = await a.delete(`/v1/connections/${lender.id}`);
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatchObject({ code: "in_use", details: { connections: [{ id: b1.id, name: "busy-b1" }], flows: [] } });
    expect(res.json().error.message).toContain("busy-b1");
    expect((await a.delete(`/v1/connections/${b1.id}`)).statusCode).toBe(204);
    expect((await a.delete(`/v1/connections/${lender.id}`)).statusCode).toBe(204);
  });

  it("never builds a cycle from two concurrent borrowing changes", async () => {
    const p = await create("race-p");
    const q = await create("race-q");
    const results = await Promise.all([
      a.patch(`/v1/connections/${p.id}`, { borrowConcurrencyFrom: q.id }),
      a.patch(`/v1/connections/${q.id}`, { borrowConcurrencyFrom: p.id }),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 400]);
  });
});
