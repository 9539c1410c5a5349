/**
 * Where the emulator was looser than Google (issue 12 item 5), each behaviour as GOOGLE.md
 * describes it, driven through the real Google client libraries.
 */
import MailComposer from "nodemailer/lib/mail-composer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CodeChallengeMethod } from "google-auth-library";
import { authErrorBody, authorize, consent, failure, gmailFor, harness, insufficientScopesBody, SCOPES, type Harness } from "./helpers.ts";

let h: Harness;
const ME = "strict@x.test";

function raw(opts: { subject?: string; to?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    new MailComposer({ from: ME, to: opts.to ?? "someone@x.test", subject: opts.subject ?? "s", text: "x" })
      .compile()
      .build((e, m) => (e ? reject(e) : resolve(m.toString("base64url")))),
  );
}

beforeAll(async () => {
  h = await harness();
  await h.admin("POST", "/_admin/users", { email: ME });
});
afterAll(() => h.close());

describe("scopes per method", () => {
  it("gmail.send may send a message but not send a draft (403), as the discovery document says", async () => {
    const { auth: composeAuth } = await authorize(h, { email: ME, scopes: [SCOPES.compose] });
    const draft = await gmailFor(h, composeAuth).users.drafts.create({ userId: "me", requestBody: { message: { raw: await raw() } } });
    const { auth: sendAuth } = await authorize(h, { email: ME, scopes: [SCOPES.send] });
    const sendOnly = gmailFor(h, sendAuth);
    expect((await sendOnly.users.messages.send({ userId: "me", requestBody: { raw: await raw() } })).status).toBe(200);
    expect(await failure(sendOnly.users.drafts.send({ userId: "me", requestBody: { id: draft.data.id! } }))).toEqual({
      status: 403,
      data: insufficientScopesBody,
    });
    // The add-on compose scope sends too, and nothing else.
    const { auth: addonAuth } = await authorize(h, { email: ME, scopes: ["https://www.googleapis.com/auth/gmail.addons.current.action.compose"] });
    const addon = gmailFor(h, addonAuth);
    expect((await addon.users.messages.send({ userId: "me", requestBody: { raw: await raw() } })).status).toBe(200);
    expect((await failure(addon.users.drafts.create({ userId: "me", requestBody: { message: { raw: await raw() } } }))).status).toBe(403);
    // With gmail.compose the same draft goes out.
    expect((await gmailFor(h, composeAuth).users.drafts.send({ userId: "me", requestBody: { id: draft.data.id! } })).status).toBe(200);
  });
});

/** A mailbox of its own for one test, seeded with these messages (base64url raw, labels). */
async function mailbox(email: string, messages: Array<{ raw: string; labelIds?: string[] }>) {
  const res = await h.admin("POST", "/_admin/users", { email, messages });
  expect(res.status).toBe(201);
  const { auth } = await authorize(h, { email, scopes: [SCOPES.readonly] });
  const api = gmailFor(h, auth);
  const subjects = async (q: string) => {
    const list = await api.users.messages.list({ userId: "me", q });
    const out: string[] = [];
    for (const m of list.data.messages ?? []) {
      const got = await api.users.messages.get({ userId: "me", id: m.id!, format: "metadata", metadataHeaders: ["Subject"] });
      out.push(got.data.payload!.headers!.find((x) => x.name === "Subject")!.value!);
    }
    return out.sort();
  };
  return { api, subjects };
}

describe("search", () => {
  it("field:(a OR b) is an OR inside the group; field:(a b) stays AND; field:{a b} is any of", async () => {
    const box = await mailbox("groups@x.test", await Promise.all(["alpha report", "beta report", "gamma or delta", "alpha beta"].map(async (subject) => ({ raw: await raw({ subject }) }))));
    expect(await box.subjects("subject:(alpha OR beta)")).toEqual(["alpha beta", "alpha report", "beta report"]);
    expect(await box.subjects("subject:(alpha beta)")).toEqual(["alpha beta"]);
    expect(await box.subjects("subject:{alpha gamma}")).toEqual(["alpha beta", "alpha report", "gamma or delta"]);
    expect(await box.subjects('subject:(-alpha "or delta")')).toEqual(["gamma or delta"]);
  });
});

describe("search by age", () => {
  it("older_than:6m and newer_than:3y count calendar months and years back from now (2026-06-15 12:00 UTC)", async () => {
    const dated = (subject: string, date: string) => new Promise<string>((resolve, reject) =>
      new MailComposer({ from: "a@x.test", to: "age@x.test", subject, text: "x", date: new Date(date) })
        .compile()
        .build((e, m) => (e ? reject(e) : resolve(m.toString("base64url")))),
    );
    const box = await mailbox("age@x.test", [
      // Inside six calendar months (from 2025-12-15 12:00) but more than 180 days ago.
      { raw: await dated("december 16", "2025-12-16T00:00:00Z") },
      { raw: await dated("december 14", "2025-12-14T00:00:00Z") },
      // Inside three calendar years (from 2023-06-15 12:00) but more than 3 × 365 days ago.
      { raw: await dated("june 2023", "2023-06-16T00:00:00Z") },
      { raw: await dated("two days", "2026-06-13T11:00:00Z") },
    ]);
    expect(await box.subjects("older_than:6m")).toEqual(["december 14", "june 2023"]);
    expect(await box.subjects("newer_than:6m")).toEqual(["december 16", "two days"]);
    expect(await box.subjects("newer_than:3y")).toEqual(["december 14", "december 16", "june 2023", "two days"]);
    expect(await box.subjects("older_than:2d")).toEqual(["december 14", "december 16", "june 2023", "two days"]);
    expect(await box.subjects("newer_than:3d")).toEqual(["two days"]);
  });
});

describe("has:attachment", () => {
  it("counts every part with an attachmentId, named or not", async () => {
    const build = (subject: string, attachments: Array<{ filename?: string | false; content: string; contentType: string }>) =>
      new Promise<string>((resolve, reject) =>
        new MailComposer({ from: "a@x.test", to: "att@x.test", subject, text: "body", attachments })
          .compile()
          .build((e, m) => (e ? reject(e) : resolve(m.toString("base64url")))),
      );
    const box = await mailbox("att@x.test", [
      { raw: await build("named", [{ filename: "a.pdf", content: "%PDF", contentType: "application/pdf" }]) },
      { raw: await build("unnamed", [{ filename: false, content: "\u0000\u0001", contentType: "application/octet-stream" }]) },
      { raw: await build("plain", []) },
    ]);
    expect(await box.subjects("has:attachment")).toEqual(["named", "unnamed"]);
    expect(await box.subjects("-has:attachment")).toEqual(["plain"]);
    // The unnamed part is what Gmail shows: no filename, an attachmentId.
    const id = (await box.api.users.messages.list({ userId: "me", q: "subject:unnamed" })).data.messages![0].id!;
    const parts = (await box.api.users.messages.get({ userId: "me", id })).data.payload!.parts!;
    const unnamed = parts.find((p) => p.mimeType === "application/octet-stream")!;
    expect(unnamed.filename).toBe("");
    expect(unnamed.body!.attachmentId).toBeTruthy();
  });
});

describe("authorization codes", () => {
  it("a replayed code is refused and the tokens it issued stop working; tokens from another code of the same grant live on", async () => {
    const client = await h.client();
    const auth = h.oauth(client);
    const redeem = async () => {
      const { codeVerifier, codeChallenge } = await auth.generateCodeVerifierAsync();
      const url = auth.generateAuthUrl({ access_type: "offline", prompt: "consent", scope: [SCOPES.readonly], code_challenge: codeChallenge, code_challenge_method: CodeChallengeMethod.S256 });
      const code = (await consent(url, { email: ME })).location!.searchParams.get("code")!;
      const { tokens } = await auth.getToken({ code, codeVerifier });
      return { code, codeVerifier, tokens };
    };
    const first = await redeem();
    const second = await redeem();
    /** A refresh at the token endpoint, as any OAuth client sends it. */
    const refresh = async (refreshToken: string) => {
      const res = await fetch(`${h.base}/token`, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: client.clientId, client_secret: client.clientSecret }),
      });
      return { status: res.status, body: await res.json() };
    };
    const apiWith = (tokens: typeof first.tokens) => {
      const a = h.oauth(client);
      a.setCredentials(tokens);
      return gmailFor(h, a);
    };
    // The first code's refresh token was used once before the replay: its offspring die too.
    const refreshed = await refresh(first.tokens.refresh_token!);
    expect(refreshed.status).toBe(200);
    expect((await apiWith(first.tokens).users.getProfile({ userId: "me" })).status).toBe(200);

    expect(await failure(auth.getToken({ code: first.code, codeVerifier: first.codeVerifier }))).toEqual({
      status: 400,
      data: { error: "invalid_grant", error_description: "Code was already redeemed." },
    });
    expect(await failure(apiWith({ access_token: first.tokens.access_token }).users.getProfile({ userId: "me" }))).toEqual({ status: 401, data: authErrorBody });
    expect((await failure(apiWith({ access_token: refreshed.body.access_token }).users.getProfile({ userId: "me" }))).status).toBe(401);
    expect(await refresh(first.tokens.refresh_token!)).toEqual({ status: 400, body: { error: "invalid_grant", error_description: "Token has been expired or revoked." } });

    expect((await apiWith({ access_token: second.tokens.access_token }).users.getProfile({ userId: "me" })).status).toBe(200);
    expect((await refresh(second.tokens.refresh_token!)).status).toBe(200);
  });
});

describe("PKCE", () => {
  it("a code verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)", async () => {
    const { createHash } = await import("node:crypto");
    const client = await h.client();
    const auth = h.oauth(client);
    const redeem = async (verifier: string) => {
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      const url = auth.generateAuthUrl({ scope: [SCOPES.readonly], code_challenge: challenge, code_challenge_method: CodeChallengeMethod.S256 });
      const code = (await consent(url, { email: ME })).location!.searchParams.get("code")!;
      return auth.getToken({ code, codeVerifier: verifier });
    };
    const invalid = { status: 400, data: { error: "invalid_grant", error_description: "Invalid code verifier." } };
    expect(await failure(redeem("abc"))).toEqual(invalid);
    expect(await failure(redeem("a".repeat(42)))).toEqual(invalid);
    expect(await failure(redeem("a".repeat(129)))).toEqual(invalid);
    expect(await failure(redeem(`${"a".repeat(42)}!`))).toEqual(invalid);
    expect((await redeem("a".repeat(43))).res?.status).toBe(200);
    expect((await redeem(`${"Az09-._~".repeat(16)}`)).res?.status).toBe(200);
  });

  it("the authorization endpoint refuses a plain challenge that no valid verifier could match", async () => {
    const auth = h.oauth(await h.client());
    const url = auth.generateAuthUrl({ scope: [SCOPES.readonly], code_challenge: "abc", code_challenge_method: CodeChallengeMethod.Plain });
    const page = await consent(url, { email: ME });
    expect(page.status).toBe(400);
    expect(page.html).toContain("invalid_request");
  });
});

describe("scopes Google knows", () => {
  it("an unknown scope gets Google's invalid_scope page and never a callback; known ones are granted", async () => {
    const auth = h.oauth(await h.client());
    for (const unknown of ["https://www.googleapis.com/auth/gmail.everything", "gmail.readonly", "https://mail.google.com"]) {
      const page = await consent(auth.generateAuthUrl({ scope: [SCOPES.readonly, unknown] }), { email: ME });
      expect(page.status, unknown).toBe(400);
      expect(page.location).toBeUndefined();
      expect(page.html).toContain("invalid_scope");
      expect(page.html).toContain("Some requested scopes were invalid");
    }
    const known = await consent(auth.generateAuthUrl({ scope: ["openid", "email", SCOPES.readonly, "https://www.googleapis.com/auth/gmail.settings.basic"] }), { email: ME });
    expect(known.status).toBe(302);
    expect(known.location!.searchParams.get("scope")!.split(" ")).toContain("https://www.googleapis.com/auth/gmail.settings.basic");
  });
});

describe("search by date", () => {
  it("after:/before: dates are read in the mailbox's time zone, Pacific by default", async () => {
    const dated = (subject: string, date: string) => new Promise<string>((resolve, reject) =>
      new MailComposer({ from: "a@x.test", to: "tz@x.test", subject, text: "x", date: new Date(date) })
        .compile()
        .build((e, m) => (e ? reject(e) : resolve(m.toString("base64url")))),
    );
    const box = await mailbox("tz@x.test", [
      // June 10 in UTC, still June 9 in California (PDT, UTC-7).
      { raw: await dated("evening of june 9", "2026-06-10T03:00:00Z") },
      { raw: await dated("morning of june 10", "2026-06-10T08:00:00Z") },
      // January is PST, UTC-8.
      { raw: await dated("last of january 14", "2026-01-15T07:59:00Z") },
      { raw: await dated("first of january 15", "2026-01-15T08:00:00Z") },
    ]);
    expect(await box.subjects("after:2026/06/10")).toEqual(["morning of june 10"]);
    expect(await box.subjects("before:2026/6/10 after:2026/02/01")).toEqual(["evening of june 9"]);
    expect(await box.subjects("after:2026/01/15 before:2026/02/01")).toEqual(["first of january 15"]);
    expect(await box.subjects("before:01/15/2026")).toEqual(["last of january 14"]);
    // Seconds since the epoch are an instant: no time zone.
    expect(await box.subjects(`after:${Date.parse("2026-06-10T03:00:00Z") / 1000} before:2026/12/31`)).toEqual(["evening of june 9", "morning of june 10"]);
  });
});

describe("client authentication", () => {
  it("a 401 invalid_client carries a WWW-Authenticate challenge (RFC 6749 §5.2)", async () => {
    const client = await h.client();
    const post = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${h.base}/token`, { method: "POST", headers, body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "1//x", ...form }) });
    const wrongSecret = await post({ client_id: client.clientId, client_secret: "nope" });
    const unknown = await post({}, { authorization: `Basic ${Buffer.from("nobody:x").toString("base64")}` });
    for (const res of [wrongSecret, unknown]) {
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Basic realm="/);
      expect((await res.json()).error).toBe("invalid_client");
    }
  });
});

describe("prompt=none", () => {
  it("redirects with interaction_required when consent is needed, and with a code when the user already granted it", async () => {
    const client = await h.client();
    const auth = h.oauth(client);
    const silent = async (scope: string[], loginHint?: string) => {
      const url = auth.generateAuthUrl({ scope, prompt: "none", state: "st", login_hint: loginHint });
      const res = await fetch(url, { redirect: "manual" });
      expect(res.status).toBe(302);
      return new URL(res.headers.get("location")!);
    };
    const email = "silent@x.test";
    const before = await silent([SCOPES.readonly], email);
    expect(before.origin + before.pathname).toBe("http://localhost:5555/oauth2/callback");
    expect(Object.fromEntries(before.searchParams)).toEqual({ error: "interaction_required", state: "st" });

    await authorize(h, { email, scopes: [SCOPES.readonly], client });
    const granted = await silent([SCOPES.readonly], email);
    expect(granted.searchParams.get("state")).toBe("st");
    const { tokens } = await auth.getToken(granted.searchParams.get("code")!);
    expect(tokens.scope).toBe(SCOPES.readonly);
    auth.setCredentials(tokens);
    expect((await gmailFor(h, auth).users.getProfile({ userId: "me" })).data.emailAddress).toBe(email);

    // A scope not granted yet, or no hint of who the user is: consent would be needed.
    expect((await silent([SCOPES.readonly, SCOPES.send], email)).searchParams.get("error")).toBe("interaction_required");
    expect((await silent([SCOPES.readonly])).searchParams.get("error")).toBe("interaction_required");
  });
});

describe("refresh-token rotation (admin setting)", () => {
  it("each refresh answers a new refresh token; presenting a retired one revokes the grant", async () => {
    expect((await h.admin("PUT", "/_admin/settings", { rotateRefreshTokens: true })).body.rotateRefreshTokens).toBe(true);
    try {
      const { client, tokens } = await authorize(h, { email: ME, scopes: [SCOPES.readonly] });
      const refresh = async (refreshToken: string) => {
        const res = await fetch(`${h.base}/token`, {
          method: "POST",
          body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: client.clientId, client_secret: client.clientSecret }),
        });
        return { status: res.status, body: await res.json() };
      };
      const first = await refresh(tokens.refresh_token!);
      expect(first.status).toBe(200);
      expect(first.body.refresh_token).toMatch(/^1\/\//);
      expect(first.body.refresh_token).not.toBe(tokens.refresh_token);
      const second = await refresh(first.body.refresh_token);
      expect(second.status).toBe(200);

      // The original token comes back: reuse. Everything from the grant stops working.
      expect(await refresh(tokens.refresh_token!)).toEqual({ status: 400, body: { error: "invalid_grant", error_description: "Token has been expired or revoked." } });
      expect((await refresh(second.body.refresh_token)).status).toBe(400);
      const auth = h.oauth(client);
      auth.setCredentials({ access_token: second.body.access_token });
      expect((await failure(gmailFor(h, auth).users.getProfile({ userId: "me" }))).status).toBe(401);
    } finally {
      await h.admin("PUT", "/_admin/settings", { rotateRefreshTokens: false });
    }
  });

  it("is off by default, as at Google: a refresh answers no new refresh token", async () => {
    expect((await h.admin("GET", "/_admin/settings")).body.rotateRefreshTokens).toBe(false);
    const { client, tokens } = await authorize(h, { email: ME, scopes: [SCOPES.readonly] });
    const res = await fetch(`${h.base}/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh_token!, client_id: client.clientId, client_secret: client.clientSecret }),
    });
    const body = await res.json();
    expect(res.status).toBe(200);
    expect(body.refresh_token).toBeUndefined();
  });
});

describe("fields= partial responses", () => {
  it("answers only the fields selected, with paths, sub-selections and *", async () => {
    const { auth } = await authorize(h, { email: ME, scopes: [SCOPES.mail] });
    const api = gmailFor(h, auth);
    await api.users.messages.send({ userId: "me", requestBody: { raw: await raw({ subject: "partial", to: ME }) } });
    const list = await api.users.messages.list({ userId: "me", fields: "messages/id,resultSizeEstimate" });
    expect(Object.keys(list.data).sort()).toEqual(["messages", "resultSizeEstimate"]);
    expect(list.data.messages!.every((m) => Object.keys(m).join() === "id")).toBe(true);
    const id = list.data.messages![0].id!;
    const got = await api.users.messages.get({ userId: "me", id, fields: "id,payload(mimeType,headers(name)),labelIds" });
    expect(Object.keys(got.data).sort()).toEqual(["id", "labelIds", "payload"]);
    expect(Object.keys(got.data.payload!).sort()).toEqual(["headers", "mimeType"]);
    expect(got.data.payload!.headers!.every((x) => Object.keys(x).join() === "name")).toBe(true);
    const star = await api.users.messages.get({ userId: "me", id, fields: "payload/*" });
    expect(Object.keys(star.data)).toEqual(["payload"]);
    expect(star.data.payload!.partId).toBe("");
    expect((await failure(api.users.messages.list({ userId: "me", fields: "messages(id" }))).data.error.message).toMatch(/^Invalid field selection/);
    expect((await failure(api.users.messages.list({ userId: "me", fields: `${"a(".repeat(100)}b` }))).status).toBe(400);
  });
});
