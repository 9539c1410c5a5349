/**
 * The emulator's per-user quota as GOOGLE.md "Quota" has it since 2026: 6,000 units a minute by
 * default, counted per user per project, so two OAuth clients (two projects) reading one mailbox
 * each have their own 6,000 units, and one client's users each have their own.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize, failure, gmailFor, harness, SCOPES, type Harness } from "../emulator/helpers.ts";

describe("the emulator's per-user quota", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("is 6,000 units a minute by default, per (project, user)", async () => {
    expect((await h.admin("GET", "/_admin/settings")).body.quotaUnitsPerMinute).toBe(6_000);
    const email = "shared@x.test";
    await h.admin("POST", "/_admin/users", { email });
    const first = await authorize(h, { email, scopes: [SCOPES.email, SCOPES.readonly] });
    const one = gmailFor(h, first.auth);
    const two = gmailFor(h, (await authorize(h, { email, scopes: [SCOPES.email, SCOPES.readonly] })).auth);
    // messages.list costs 5: 1,200 calls spend project one's 6,000 units for this user.
    for (let i = 0; i < 1_200; i += 100) {
      await Promise.all(Array.from({ length: 100 }, () => one.users.messages.list({ userId: "me", maxResults: 1 })));
    }
    expect((await failure(one.users.messages.list({ userId: "me", maxResults: 1 }))).status).toBe(429);
    expect((await failure(one.users.getProfile({ userId: "me" }))).status).toBe(429);
    // The same mailbox through another project has its own minute.
    expect((await two.users.messages.list({ userId: "me", maxResults: 1 })).status).toBe(200);
    // And another user of the first project too.
    await h.admin("POST", "/_admin/users", { email: "other@x.test" });
    const other = await authorize(h, { email: "other@x.test", scopes: [SCOPES.email, SCOPES.readonly], client: first.client });
    expect((await gmailFor(h, other.auth).users.getProfile({ userId: "me" })).status).toBe(200);
    h.clock.advance(60_001);
    expect((await one.users.messages.list({ userId: "me", maxResults: 1 })).status).toBe(200);
  });
});
