/**
 * The push endpoint's check of a Pub/Sub push request's `Authorization: Bearer` JWT
 * (SPEC §2 "Push endpoint"): signature against the issuer's keys at `GOOGLE_CERTS_URL` (a
 * JWKS, fetched once and again for a key id it does not know), `iss`, `aud`, `exp` through
 * google-auth-library, and `email` when a service account is configured. A token that verified
 * is remembered (by its SHA-256) until its `exp`, and no longer than the key that verified it is
 * trusted: Pub/Sub reuses one token for many pushes, and an RS256 verification per push was a
 * measurable share of the CPU at a thousand pushes a second.
 */
import { createHash, createPublicKey, type JsonWebKey } from "node:crypto";
import { OAuth2Client } from "google-auth-library";
import { LRUCache } from "lru-cache";

/** How long fetched keys are trusted before being fetched again. */
const CERTS_TTL_MS = 60 * 60 * 1000;
/** An unknown key id refetches at most this often (a forged kid must not hammer the issuer). */
const REFETCH_MS = 10_000;
/** Verified tokens remembered at most (the least recently used go first). */
export const VERIFIED_TOKENS_MAX = 10_000;

/** A token that verified: its claims, the key that verified it, and until when it may be taken as verified. */
interface Verified {
  email?: string;
  kid: string;
  pem: string;
  until: number;
}

export interface PushAuthOptions {
  certsUrl: string;
  issuers: readonly string[];
  audience: string;
  serviceAccount?: string;
}

export class PushAuthError extends Error {}

export class PushVerifier {
  private readonly client = new OAuth2Client();
  private certs: Record<string, string> = {};
  private fetchedAt = 0;
  private readonly verified = new LRUCache<string, Verified>({ max: VERIFIED_TOKENS_MAX });

  constructor(private readonly opts: PushAuthOptions) {}

  /** The push's verified claims, or {@link PushAuthError} naming the check that failed (never quoting the token). */
  async verify(authorization: string | undefined): Promise<{ email?: string }> {
    const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(authorization ?? "");
    if (!m) throw new PushAuthError("no bearer JWT");
    const token = m[1]!;
    const hash = createHash("sha256").update(token).digest("base64url");
    const known = this.verified.get(hash);
    // Still before its exp and the keys' expiry, and its key unchanged (keys fetched since may have dropped it).
    if (known && Date.now() < known.until && this.certs[known.kid] === known.pem) return { email: known.email };
    if (known) this.verified.delete(hash);
    let kid: unknown;
    try {
      kid = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8")).kid;
    } catch {
      throw new PushAuthError("not a JWT");
    }
    const certs = await this.keys(typeof kid === "string" ? kid : undefined);
    let payload: { email?: string; email_verified?: boolean | string; exp?: number } | undefined;
    try {
      const ticket = await this.client.verifySignedJwtWithCertsAsync(token, certs, this.opts.audience, [...this.opts.issuers]);
      payload = ticket.getPayload();
    } catch (err) {
      throw new PushAuthError(problem(err));
    }
    if (this.opts.serviceAccount) {
      if (payload?.email?.toLowerCase() !== this.opts.serviceAccount.toLowerCase()) throw new PushAuthError("wrong service account");
      if (payload.email_verified === false || payload.email_verified === "false") throw new PushAuthError("service account not verified");
    }
    const until = Math.min((payload?.exp ?? 0) * 1000, this.fetchedAt + CERTS_TTL_MS);
    if (typeof kid === "string" && certs[kid] && until > Date.now()) this.verified.set(hash, { email: payload?.email, kid, pem: certs[kid], until });
    return { email: payload?.email };
  }

  private async keys(kid: string | undefined): Promise<Record<string, string>> {
    const age = Date.now() - this.fetchedAt;
    const known = kid !== undefined && kid in this.certs;
    if (age < CERTS_TTL_MS && (known || age < REFETCH_MS)) return this.certs;
    let keys: Array<JsonWebKey & { kid?: string; use?: string }>;
    try {
      const res = await this.client.transporter.request<unknown>({ url: this.opts.certsUrl, responseType: "text" });
      const jwks = typeof res.data === "string" ? JSON.parse(res.data) : res.data;
      keys = Array.isArray(jwks?.keys) ? jwks.keys : [];
    } catch {
      if (this.fetchedAt) return this.certs;
      throw new PushAuthError("signing keys unavailable");
    }
    const certs: Record<string, string> = {};
    for (const jwk of keys) {
      if (!jwk.kid || (jwk.use && jwk.use !== "sig")) continue;
      try {
        certs[jwk.kid] = createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
      } catch {
        // a key type this verifier cannot use
      }
    }
    this.certs = certs;
    this.fetchedAt = Date.now();
    return certs;
  }
}

/** Which check failed, without the token google-auth-library's messages quote. */
function problem(err: unknown): string {
  const text = err instanceof Error ? err.message : "";
  if (/audience/i.test(text)) return "wrong audience";
  if (/issuer/i.test(text)) return "wrong issuer";
  if (/too late|expired/i.test(text)) return "expired";
  if (/too early|future/i.test(text)) return "not yet valid";
  if (/signature|pem|certificate/i.test(text)) return "bad signature";
  return "invalid token";
}
