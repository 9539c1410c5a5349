import MailComposer from "nodemailer/lib/mail-composer";
import type { gmail_v1 } from "@googleapis/gmail";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authErrorBody, authorize, failure, gmailFor, harness, insufficientScopesBody, SCOPES, type Harness } from "./helpers.ts";

let h: Harness;
const ME = "enforce@x.test";

function raw(subject = "hi"): Promise<string> {
  return new Promise((resolve, reject) =>
    new MailComposer({ from: ME, to: ME, subject, text: "x" }).compile().build((e, m) => (e ? reject(e) : resolve(m.toString("base64url")))),
  );
}

async function apiWith(scopes: string[], email = ME): Promise<gmail_v1.Gmail> {
  const { auth } = await authorize(h, { email, scopes: [SCOPES.email, ...scopes] });
  return gmailFor(h, auth);
}

beforeAll(async () => {
  h = await harness();
  await h.admin("POST", "/_admin/users", { email: ME, generate: { count: 5, attachments: true } });
});
afterAll(() => h.close());

describe("scopes per method", () => {
  it("refuses methods outside the granted scopes with Google's exact 403", async () => {
    const labelsOnly = await apiWith([SCOPES.labels]);
    expect((await labelsOnly.users.labels.list({ userId: "me" })).status).toBe(200);
    expect(await failure(labelsOnly.users.messages.list({ userId: "me" }))).toEqual({ status: 403, data: insufficientScopesBody });
    expect((await failure(labelsOnly.users.getProfile({ userId: "me" }))).status).toBe(403);

    const sendOnly = await apiWith([SCOPES.send]);
    expect((await sendOnly.users.messages.send({ userId: "me", requestBody: { raw: await raw() } })).status).toBe(200);
    expect((await failure(sendOnly.users.drafts.create({ userId: "me", requestBody: { message: { raw: await raw() } } }))).status).toBe(403);
    expect((await failure(sendOnly.users.messages.list({ userId: "me" }))).status).toBe(403);

    const readonly = await apiWith([SCOPES.readonly]);
    const id = (await readonly.users.messages.list({ userId: "me" })).data.messages![0].id!;
    expect((await failure(readonly.users.messages.modify({ userId: "me", id, requestBody: { addLabelIds: ["STARRED"] } }))).status).toBe(403);
    expect((await failure(readonly.users.messages.insert({ userId: "me", requestBody: { raw: await raw() } }))).status).toBe(403);

    const modify = await apiWith([SCOPES.modify]);
    expect((await modify.users.messages.trash({ userId: "me", id })).status).toBe(200);
    expect(await failure(modify.users.messages.delete({ userId: "me", id }))).toEqual({ status: 403, data: insufficientScopesBody });

    const insert = await apiWith([SCOPES.insert]);
    expect((await insert.users.messages.import({ userId: "me", requestBody: { raw: await raw() } })).status).toBe(200);
    expect((await failure(insert.users.history.list({ userId: "me", startHistoryId: "1" }))).status).toBe(403);

    const compose = await apiWith([SCOPES.compose]);
    expect((await compose.users.getProfile({ userId: "me" })).status).toBe(200);
    expect((await compose.users.drafts.create({ userId: "me", requestBody: { message: { raw: await raw() } } })).status).toBe(200);
  });

  it("applies the gmail.metadata restrictions even with broader scopes", async () => {
    const api = await apiWith([SCOPES.metadata, SCOPES.readonly]);
    const list = await api.users.messages.list({ userId: "me" });
    const id = list.data.messages![0].id!;
    expect((await api.users.messages.get({ userId: "me", id, format: "metadata" })).status).toBe(200);
    const q = await failure(api.users.messages.list({ userId: "me", q: "from:alice" }));
    expect(q).toEqual({
      status: 403,
      data: {
        error: {
          code: 403,
          message: "Metadata scope does not support 'q' parameter",
          errors: [{ message: "Metadata scope does not support 'q' parameter", domain: "global", reason: "forbidden" }],
          status: "PERMISSION_DENIED",
        },
      },
    });
    expect((await failure(api.users.messages.get({ userId: "me", id, format: "full" }))).status).toBe(403);
    expect((await failure(api.users.messages.get({ userId: "me", id, format: "raw" }))).status).toBe(403);
    expect((await failure(api.users.messages.attachments.get({ userId: "me", messageId: id, id: "ANGjdJx" }))).status).toBe(400);
  });
});

describe("bearer tokens", () => {
  it("answers 401 authError for a bad token and 401 required for none", async () => {
    const bad = await fetch(`${h.base}/gmail/v1/users/me/messages`, { headers: { authorization: "Bearer ya29.bogus" } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual(authErrorBody);
    const none = await fetch(`${h.base}/gmail/v1/users/me/messages`);
    expect(none.status).toBe(401);
    expect((await none.json()).error.errors[0]).toMatchObject({ reason: "required", location: "Authorization" });
  });
});

describe("quota", () => {
  it("refuses with 429 rateLimitExceeded exactly when the units per minute are used up, and recovers", async () => {
    const email = "quota@x.test";
    await h.admin("POST", "/_admin/users", { email, generate: { count: 3 } });
    const api = await apiWith([SCOPES.mail], email);
    const id = (await api.users.messages.list({ userId: "me" })).data.messages![0].id!;
    expect((await h.admin("PUT", "/_admin/settings", { quotaUnitsPerMinute: 117 })).status).toBe(200);
    await h.admin("POST", "/_admin/stats/reset");
    const message = await raw();
    // 100 (send) + 5 (get) + 5 (list) + 5 (get) + 1 (profile) + 1 (profile) = 117, exactly the limit.
    await api.users.messages.send({ userId: "me", requestBody: { raw: message } });
    await api.users.messages.get({ userId: "me", id });
    await api.users.messages.list({ userId: "me" });
    await api.users.messages.get({ userId: "me", id, format: "minimal" });
    await api.users.getProfile({ userId: "me" });
    await api.users.getProfile({ userId: "me" });
    const refused = await failure(api.users.labels.list({ userId: "me" }));
    expect(refused).toEqual({
      status: 429,
      data: {
        error: {
          code: 429,
          message: "User-rate limit exceeded",
          errors: [{ message: "User-rate limit exceeded", domain: "usageLimits", reason: "rateLimitExceeded" }],
          status: "RESOURCE_EXHAUSTED",
        },
      },
    });
    const stats = (await h.admin("GET", "/_admin/stats")).body.users[email];
    expect(stats).toMatchObject({ requests: 7, quotaUnits: 117 });
    h.clock.advance(59_999);
    expect((await failure(api.users.getProfile({ userId: "me" }))).status).toBe(429);
    h.clock.advance(2);
    expect((await api.users.messages.get({ userId: "me", id })).status).toBe(200);
    await h.admin("PUT", "/_admin/settings", { quotaUnitsPerMinute: 6000 });
  });
});

describe("admin settings: latency, in-flight, faults, token lifetime", () => {
  it("counts requests in flight at once while latency holds them", async () => {
    const email = "flight@x.test";
    const api = await apiWith([SCOPES.readonly], email);
    await h.admin("POST", "/_admin/stats/reset");
    await h.admin("PUT", "/_admin/settings", { latencyMs: 400 });
    const running = Array.from({ length: 4 }, () => api.users.getProfile({ userId: "me" }));
    let during = 0;
    for (let i = 0; i < 30 && during < 4; i++) {
      during = (await h.admin("GET", "/_admin/stats")).body.users[email]?.inFlight ?? 0;
      if (during < 4) await new Promise((r) => setTimeout(r, 10));
    }
    expect(during).toBe(4);
    await Promise.all(running);
    await h.admin("PUT", "/_admin/settings", { latencyMs: 0 });
    const after = (await h.admin("GET", "/_admin/stats")).body.users[email];
    expect(after).toEqual({ requests: 4, quotaUnits: 4, inFlight: 0, maxInFlight: 4, refreshes: 0 });
  });

  it("injects faults with Google's bodies and shortens token lifetimes", async () => {
    const api = await apiWith([SCOPES.readonly]);
    await h.admin("PUT", "/_admin/settings", { faults: { status: 503, rate: 1 } });
    const fault = await failure(api.users.getProfile({ userId: "me" }));
    expect(fault.status).toBe(503);
    expect(fault.data.error.status).toBe("UNAVAILABLE");
    await h.admin("PUT", "/_admin/settings", { faults: { status: 403, rate: 1 } });
    expect((await failure(api.users.getProfile({ userId: "me" }))).data.error.errors[0].reason).toBe("userRateLimitExceeded");
    await h.admin("PUT", "/_admin/settings", { faults: null });
    expect((await api.users.getProfile({ userId: "me" })).status).toBe(200);

    await h.admin("PUT", "/_admin/settings", { accessTokenTtlSeconds: 60 });
    const { tokens } = await authorize(h, { email: ME, scopes: [SCOPES.readonly] });
    expect(tokens.expiry_date! - Date.now()).toBeLessThanOrEqual(60_000);
    h.clock.advance(61_000);
    const res = await fetch(`${h.base}/gmail/v1/users/me/profile`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(res.status).toBe(401);
    await h.admin("PUT", "/_admin/settings", { accessTokenTtlSeconds: 3599 });
    expect((await h.admin("PUT", "/_admin/settings", { quotaUnitsPerMinute: "lots" })).status).toBe(400);
  });
});

describe("upload size limits", () => {
  it("refuses a send over 35 MB and accepts an insert of the same size", async () => {
    const api = await apiWith([SCOPES.mail]);
    const big = Buffer.concat([Buffer.from(`From: ${ME}\r\nTo: ${ME}\r\nSubject: big\r\n\r\n`), Buffer.from(`${"a".repeat(998)}\r\n`.repeat(36 * 1050))]);
    const rootUrl = `${h.base}/`;
    const token = ((await api.context._options.auth) as { credentials: { access_token: string } }).credentials.access_token;
    const upload = (path: string, body: Buffer) =>
      fetch(`${h.base}/upload/gmail/v1/users/me/${path}?uploadType=media`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "message/rfc822" },
        body: new Blob([new Uint8Array(body)]),
      });
    // Raw fetch for the refusals: gaxios spends seconds redacting a 36 MB body into its error.
    const send = await upload("messages/send", big);
    expect(send.status).toBe(413);
    expect((await send.json()).error.errors[0].reason).toBe("uploadTooLarge");
    const insert = await api.users.messages.insert({ userId: "me", media: { mimeType: "message/rfc822", body: big } }, { rootUrl });
    expect(insert.status).toBe(200);
    const tooBig = await upload("messages", Buffer.from(`${"b".repeat(998)}\r\n`.repeat(52 * 1050)));
    expect(tooBig.status).toBe(413);
  });
});
