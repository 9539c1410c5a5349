/**
 * The emulator's Gmail push: users.watch / users.stop through the real Gmail client (scopes,
 * quota units, 7-day expiry), mail arriving through `POST /_admin/users/:email/messages`
 * published to a push subscription as Pub/Sub push bodies with an RS256 JWT that
 * google-auth-library verifies against the emulator's published keys, at most one
 * notification per second per user with folding, redelivery with backoff until a 2xx, and
 * nothing published after stop or for changes outside a watch's labels.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize, failure, gmailFor, harness, SCOPES, type Harness } from "./helpers.ts";

const TOPIC = "projects/mb-test/topics/gmail";

interface Received {
  auth: string | undefined;
  body: any;
  notification: { emailAddress: string; historyId: number };
}

/** A push endpoint that records each request and answers the next status of `answers` (then 204). */
async function receiver() {
  const received: Received[] = [];
  const answers: number[] = [];
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      const body = JSON.parse(text);
      received.push({ auth: req.headers.authorization, body, notification: JSON.parse(Buffer.from(body.message.data, "base64").toString("utf8")) });
      res.statusCode = answers.shift() ?? 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/gmail`;
  return { url, received, answers, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function until<T>(fn: () => T | Promise<T>, what: string, ms = 10_000): Promise<Exclude<T, false | undefined | null | 0 | "">> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as Exclude<T, false | undefined | null | 0 | "">;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const raw = (to: string, subject: string) => `From: a@example.org\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nhello\r\n`;

describe("emulator: Gmail push", () => {
  let h: Harness;
  let rx: Awaited<ReturnType<typeof receiver>>;
  const me = "push-me@example.com";
  let gmail: ReturnType<typeof gmailFor>;

  beforeAll(async () => {
    h = await harness();
    rx = await receiver();
    await h.admin("POST", "/_admin/users", { email: me });
    gmail = gmailFor(h, (await authorize(h, { email: me, scopes: [SCOPES.readonly] })).auth);
  });
  afterAll(async () => {
    await h?.close();
    await rx?.close();
  });

  const pubsub = async () => (await h.admin("GET", "/_admin/pubsub")).body;
  const arrive = async (email: string, subject: string, labelIds?: string[]) => {
    const res = await h.admin("POST", `/_admin/users/${encodeURIComponent(email)}/messages`, { raw: raw(email, subject), ...(labelIds ? { labelIds } : {}) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { ids: string[]; historyId: string };
  };

  it("watch and stop take the history scopes, cost 100 and 50 units, and a watch lasts 7 days", async () => {
    const sender = "push-sender@example.com";
    await h.admin("POST", "/_admin/users", { email: sender });
    const sendOnly = gmailFor(h, (await authorize(h, { email: sender, scopes: [SCOPES.send] })).auth);
    expect((await failure(sendOnly.users.watch({ userId: "me", requestBody: { topicName: TOPIC } }))).status).toBe(403);
    expect((await failure(gmail.users.watch({ userId: "me", requestBody: { topicName: "not-a-topic" } }))).status).toBe(400);

    await h.admin("POST", "/_admin/stats/reset", {});
    const res = await gmail.users.watch({ userId: "me", requestBody: { topicName: TOPIC } });
    const profile = await gmail.users.getProfile({ userId: "me" });
    expect(res.data.historyId).toBe(profile.data.historyId);
    expect(Number(res.data.expiration)).toBe(h.clock.now + 7 * 24 * 3600 * 1000);
    const stop = await gmail.users.stop({ userId: "me" });
    expect(stop.status).toBe(204);
    expect((await h.admin("GET", "/_admin/stats")).body.users[me].quotaUnits).toBe(100 + 1 + 50);
  });

  it("publishes mail arriving to the push endpoint with a JWT google-auth-library verifies against the published keys", async () => {
    expect((await h.admin("PUT", "/_admin/pubsub", { topic: TOPIC, pushEndpoint: rx.url, audience: "https://mailbridge.test/hooks/gmail" })).status).toBe(200);
    await gmail.users.watch({ userId: "me", requestBody: { topicName: TOPIC } });
    const { historyId } = await arrive(me, "one");
    const [got] = await until(() => rx.received.length === 1 && rx.received, "one push");
    expect(got!.notification).toEqual({ emailAddress: me, historyId: Number(historyId) });
    expect(got!.body).toMatchObject({
      message: { messageId: expect.any(String), message_id: expect.any(String), publishTime: expect.any(String), publish_time: expect.any(String) },
      subscription: "projects/mb-test/subscriptions/mailbridge-push",
    });

    const pems = (await h.admin("GET", "/oauth2/v1/certs")).body as Record<string, string>;
    const jwks = (await h.admin("GET", "/oauth2/v3/certs")).body as { keys: Array<{ kid: string; alg: string; kty: string }> };
    expect(Object.keys(pems)).toEqual(jwks.keys.map((k) => k.kid));
    expect(jwks.keys[0]).toMatchObject({ alg: "RS256", kty: "RSA" });
    const token = got!.auth!.replace(/^Bearer /, "");
    const ticket = await new OAuth2Client().verifySignedJwtWithCertsAsync(token, pems, "https://mailbridge.test/hooks/gmail", ["https://accounts.google.com"]);
    expect(ticket.getPayload()).toMatchObject({ iss: "https://accounts.google.com", aud: "https://mailbridge.test/hooks/gmail", email_verified: true, email: expect.stringContaining("@") });
    await expect(new OAuth2Client().verifySignedJwtWithCertsAsync(token, pems, "https://elsewhere.test/hooks/gmail", ["https://accounts.google.com"])).rejects.toThrow(/audience/i);
    await until(async () => (await pubsub()).acked === 1, "acked");
    expect(await pubsub()).toMatchObject({ published: 1, deliveries: 1, acked: 1, redelivered: 0, pending: 0 });
  });

  it("sends at most one notification per second per user, folding the changes in between", async () => {
    const before = rx.received.length;
    const started = Date.now();
    let last = "";
    for (let i = 0; i < 5; i++) last = (await arrive(me, `burst ${i}`)).historyId;
    const got = await until(() => rx.received.at(-1)?.notification.historyId === Number(last) && rx.received.slice(before), "the folded notification");
    expect(got.length).toBeLessThanOrEqual(2); // the first at once (or folded too), the rest in one
    if (got.length === 2) expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("redelivers with backoff until the endpoint answers 2xx", async () => {
    await h.admin("PUT", "/_admin/pubsub", { topic: TOPIC, pushEndpoint: rx.url, minBackoffMs: 20, maxBackoffMs: 100, notifyIntervalMs: 0 });
    const counts0 = await pubsub();
    const before = rx.received.length;
    rx.answers.push(500, 503);
    const { historyId } = await arrive(me, "retried");
    await until(async () => (await pubsub()).acked === counts0.acked + 1, "the ack");
    const attempts = rx.received.slice(before);
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((a) => a.body.message.messageId)).size).toBe(1); // the same message, redelivered
    expect(attempts.every((a) => a.notification.historyId === Number(historyId))).toBe(true);
    expect(await pubsub()).toMatchObject({ deliveries: counts0.deliveries + 3, redelivered: counts0.redelivered + 2, pending: 0 });
  });

  it("publishes nothing after stop, nor for changes outside a watch's labels", async () => {
    const published = (await pubsub()).published;
    await gmail.users.stop({ userId: "me" });
    await arrive(me, "after stop");
    expect((await pubsub()).published).toBe(published);

    await gmail.users.watch({ userId: "me", requestBody: { topicName: TOPIC, labelIds: ["INBOX"] } });
    await arrive(me, "sent elsewhere", ["SENT"]);
    expect((await pubsub()).published).toBe(published);
    await arrive(me, "in the inbox", ["INBOX"]);
    expect((await pubsub()).published).toBe(published + 1);
  });

  it("answers 400 to a bad arrival and 404 for an unknown user", async () => {
    expect((await h.admin("POST", "/_admin/users/nobody%40example.com/messages", { raw: raw("x@y.z", "s") })).status).toBe(404);
    expect((await h.admin("POST", `/_admin/users/${me}/messages`, {})).status).toBe(400);
    expect((await h.admin("POST", `/_admin/users/${me}/messages`, { raw: "x", extra: 1 })).status).toBe(400);
    expect((await h.admin("PUT", "/_admin/pubsub", { topic: "nope", pushEndpoint: rx.url })).status).toBe(400);
  });
});
