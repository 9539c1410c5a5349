/**
 * The push JWT verifier remembers a token that verified (Pub/Sub reuses one for many pushes), and
 * only while that is safe: never past the token's `exp`, never past the keys' trust, never for
 * a token that differs in any byte. The keys are served over real HTTP; only Date is faked, to
 * move past an expiry without waiting for it.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { OAuth2Client } from "google-auth-library";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { PushAuthError, PushVerifier } from "../../server/triggers/push-auth.ts";

const AUDIENCE = "https://mailbridge.test/hooks/gmail";
const PUSHER = "gmail-push@mb-test.iam.gserviceaccount.com";
const T0 = Date.parse("2026-03-02T08:00:00Z");

function key() {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid: randomBytes(8).toString("hex"), privateKey, publicKey };
}

function jwt(k: { kid: string; privateKey: KeyObject }, claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const head = enc({ alg: "RS256", kid: k.kid, typ: "JWT" });
  const body = enc({ iss: "https://accounts.google.com", aud: AUDIENCE, email: PUSHER, email_verified: true, sub: "1", iat: now, exp: now + 600, ...claims });
  return `${head}.${body}.${sign("RSA-SHA256", Buffer.from(`${head}.${body}`), k.privateKey).toString("base64url")}`;
}

describe("push JWT verifier: remembered tokens", () => {
  const signer = key();
  let published: Array<ReturnType<typeof key>> = [];
  let server: http.Server;
  let certsUrl = "";

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: published.map((k) => ({ ...k.publicKey.export({ format: "jwk" }), kid: k.kid, alg: "RS256", use: "sig" })) }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    certsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs`;
  });
  afterAll(() => new Promise((r) => server?.close(r)));
  beforeEach(() => {
    published = [signer];
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  const verifier = () => new PushVerifier({ certsUrl, issuers: ["https://accounts.google.com", "accounts.google.com"], audience: AUDIENCE, serviceAccount: PUSHER });
  const refusal = (p: Promise<unknown>) => p.then(() => "accepted", (err) => (err instanceof PushAuthError ? err.message : `threw ${err}`));

  it("verifies a token's signature once for many pushes, and refuses it once expired though remembered", async () => {
    const verifications = vi.spyOn(OAuth2Client.prototype, "verifySignedJwtWithCertsAsync");
    const v = verifier();
    const token = jwt(signer);
    for (let i = 0; i < 3; i++) expect(await v.verify(`Bearer ${token}`)).toEqual({ email: PUSHER });
    expect(verifications).toHaveBeenCalledTimes(1);

    // Not one byte different is taken for it: another signer's token with the same claims and key id.
    const forger = { ...key(), kid: signer.kid };
    expect(await refusal(v.verify(`Bearer ${jwt(forger)}`))).toBe("bad signature");
    expect(await refusal(v.verify(`Bearer ${token.slice(0, -2)}${token.endsWith("AA") ? "BB" : "AA"}`))).not.toBe("accepted");

    // Past its exp (and google-auth-library's 5 minutes of clock skew): refused, remembered or not.
    vi.setSystemTime(T0 + 20 * 60_000);
    expect(await refusal(v.verify(`Bearer ${token}`))).toBe("expired");
  });

  it("forgets a remembered token once its keys are due for a refetch that drops its key", async () => {
    const v = verifier();
    const token = jwt(signer, { exp: Math.floor(T0 / 1000) + 3 * 3600 });
    expect(await v.verify(`Bearer ${token}`)).toEqual({ email: PUSHER });
    published = [key()]; // the issuer rotated its keys
    vi.setSystemTime(T0 + 30 * 60_000);
    expect(await v.verify(`Bearer ${token}`)).toEqual({ email: PUSHER }); // the keys are trusted for an hour
    vi.setSystemTime(T0 + 61 * 60_000);
    expect(await refusal(v.verify(`Bearer ${token}`))).not.toBe("accepted");
  });
});
