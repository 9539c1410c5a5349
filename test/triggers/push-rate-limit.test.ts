/**
 * The `/hooks/gmail` per-IP limit counts failures only: Google pushes every mailbox's
 * notifications from a few addresses, so a burst of verified pushes from one IP (more than the
 * limit in a minute) is answered 204 throughout, while pushes whose JWT does not verify, or whose
 * body is malformed, get 429 once over the limit (and a verified push from that same address
 * still gets its 204). With `TRUST_PROXY` the limit applies per client behind the proxy
 * (`X-Forwarded-For`); without it the header is ignored.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../server/config.ts";
import { HOOKS_RATE_LIMIT } from "../../server/security.ts";
import { startTestApp, type TestApp } from "../support/app.ts";

const PUBLIC_URL = "http://mailbridge.test";
const AUDIENCE = `${PUBLIC_URL}/hooks/gmail`;

function key() {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid: randomBytes(8).toString("hex"), privateKey, publicKey };
}

function jwt(k: { kid: string; privateKey: KeyObject }): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const head = enc({ alg: "RS256", kid: k.kid, typ: "JWT" });
  const body = enc({ iss: "https://accounts.google.com", aud: AUDIENCE, email: "pusher@test", email_verified: true, sub: "1", iat: now, exp: now + 3600 });
  return `${head}.${body}.${sign("RSA-SHA256", Buffer.from(`${head}.${body}`), k.privateKey).toString("base64url")}`;
}

const body = (historyId: number) => ({
  message: { data: Buffer.from(JSON.stringify({ emailAddress: "nobody@watch.test", historyId })).toString("base64"), messageId: String(historyId) },
  subscription: "projects/p/subscriptions/s",
});

describe("/hooks/gmail rate limit", () => {
  const google = key();
  const forger = key(); // signs well, but its key is not the issuer's
  let certs: http.Server;
  let certsUrl: string;
  const apps: TestApp[] = [];

  const start = async (env: Record<string, string> = {}) => {
    const t = await startTestApp({ env: { PUBLIC_URL, GMAIL_PUSH_TOPIC: "projects/p/topics/t", GOOGLE_CERTS_URL: certsUrl, ...env } });
    apps.push(t);
    return t;
  };
  const push = (t: TestApp, token: string, remoteAddress: string, payload: unknown = body(1), headers: Record<string, string> = {}) =>
    t.app.inject({ method: "POST", url: "/hooks/gmail", remoteAddress, headers: { authorization: `Bearer ${token}`, ...headers }, payload: payload as object });

  beforeAll(async () => {
    certs = http.createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [{ ...google.publicKey.export({ format: "jwk" }), kid: google.kid, alg: "RS256", use: "sig" }] }));
    });
    await new Promise<void>((r) => certs.listen(0, "127.0.0.1", r));
    certsUrl = `http://127.0.0.1:${(certs.address() as AddressInfo).port}/certs`;
  });
  afterAll(async () => {
    for (const t of apps) await t.close();
    await new Promise((r) => certs.close(r));
  });

  it("answers 204 to every verified push of a burst over the limit from one IP, and 429 to forged and malformed ones after the limit", async () => {
    const t = await start();
    const good = jwt(google);
    const over = HOOKS_RATE_LIMIT.max + 50;

    const google1 = "64.233.160.1";
    const answers = new Map<number, number>();
    for (let i = 0; i < over; i++) {
      const res = await push(t, good, google1, body(1000 + i));
      answers.set(res.statusCode, (answers.get(res.statusCode) ?? 0) + 1);
    }
    expect(Object.fromEntries(answers)).toEqual({ 204: over });

    const attacker = "203.0.113.50";
    const forged = jwt(forger);
    for (let i = 0; i < HOOKS_RATE_LIMIT.max; i++) expect((await push(t, forged, attacker)).statusCode).toBe(401);
    const limited = await push(t, forged, attacker);
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe("rate_limited");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect((await push(t, "not-a-jwt", attacker)).statusCode).toBe(429);
    // The limit is on failures: a verified push from that address still gets through.
    expect((await push(t, good, attacker, body(5))).statusCode).toBe(204);
    // Other addresses are not affected.
    expect((await push(t, forged, "203.0.113.51")).statusCode).toBe(401);

    // Malformed bodies count too, even with a good JWT.
    const sloppy = "198.51.100.7";
    const malformed = { message: { data: Buffer.from("not json").toString("base64") } };
    for (let i = 0; i < HOOKS_RATE_LIMIT.max; i++) expect((await push(t, good, sloppy, i % 2 ? malformed : { nope: 1 })).statusCode).toBe(400);
    expect((await push(t, good, sloppy, malformed)).statusCode).toBe(429);
    expect((await push(t, good, sloppy, body(7))).statusCode).toBe(204);
  });

  it("limits per client behind a trusted proxy (TRUST_PROXY), and ignores X-Forwarded-For without it", async () => {
    const proxy = "10.0.0.2";
    const forged = jwt(forger);
    const behind = await start({ TRUST_PROXY: proxy });
    for (let i = 0; i < HOOKS_RATE_LIMIT.max; i++) expect((await push(behind, forged, proxy, body(1), { "x-forwarded-for": "203.0.113.60" })).statusCode).toBe(401);
    expect((await push(behind, forged, proxy, body(1), { "x-forwarded-for": "203.0.113.60" })).statusCode).toBe(429);
    // Another client behind the same proxy has its own count.
    expect((await push(behind, forged, proxy, body(1), { "x-forwarded-for": "203.0.113.61" })).statusCode).toBe(401);

    const direct = await start();
    for (let i = 0; i < HOOKS_RATE_LIMIT.max; i++) {
      expect((await push(direct, forged, proxy, body(1), { "x-forwarded-for": `203.0.113.${i % 200}` })).statusCode).toBe(401);
    }
    // Untrusted, the header names no one: every request counted against the socket's address.
    expect((await push(direct, forged, proxy, body(1), { "x-forwarded-for": "192.0.2.99" })).statusCode).toBe(429);
  });

  it("reads TRUST_PROXY as off, on, a hop count or the proxies' addresses, and refuses anything else", () => {
    const of = (v?: string) => loadConfig({ DATA_DIR: "/tmp/unused", ...(v === undefined ? {} : { TRUST_PROXY: v }) }, []).trustProxy;
    expect(of()).toBe(false);
    expect(of("false")).toBe(false);
    expect(of("true")).toBe(true);
    expect(of("10.0.0.2, 10.1.0.0/16")).toBe("10.0.0.2,10.1.0.0/16");
    const hops = of("1") as (a: string, i: number) => boolean;
    expect([hops("10.0.0.2", 0), hops("10.0.0.3", 1)]).toEqual([true, false]);
    expect(() => of("yes please")).toThrow(/TRUST_PROXY/);
  });
});
