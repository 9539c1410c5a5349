/**
 * ID tokens (GOOGLE.md "Sign-in identity"): when `openid` was granted, the token endpoint's answer
 * carries a JWT signed RS256 with the emulator's one key (the one push JWTs use, published at
 * `/oauth2/v1/certs` and `/oauth2/v3/certs`), with Google's claims: `iss`, `azp`, `aud` (the
 * client id), `sub`, `email` and `email_verified` (with the email scope), `at_hash`, `iat`, `exp`,
 * and the authorization request's `nonce` when it sent one.
 */
import { createHash } from "node:crypto";
import { ISSUER, pubsubOf } from "./pubsub.ts";
import { numericId } from "./ids.ts";
import { grantsEmail } from "./scopes.ts";
import type { AuthCode, EmulatorState } from "./state.ts";

/** The `nonce` of the authorization request each code came from (OpenID Connect Core §3.1.2.1). */
const nonces = new WeakMap<AuthCode, string>();

export function rememberNonce(code: AuthCode, nonce: string | undefined): void {
  if (nonce) nonces.set(code, nonce);
}

export function nonceOf(code: AuthCode): string | undefined {
  return nonces.get(code);
}

export interface IdTokenInput {
  clientId: string;
  email: string;
  scopes: readonly string[];
  accessToken: string;
  nonce?: string;
}

/** The ID token for a token response, or undefined when `openid` was not granted. */
export function idTokenFor(state: EmulatorState, input: IdTokenInput): string | undefined {
  if (!input.scopes.includes("openid")) return undefined;
  // at_hash: the left half of the access token's SHA-256, base64url (OpenID Connect Core §3.1.3.6).
  const atHash = createHash("sha256").update(input.accessToken).digest().subarray(0, 16).toString("base64url");
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    azp: input.clientId,
    aud: input.clientId,
    sub: numericId(input.email),
    at_hash: atHash,
  };
  if (grantsEmail(input.scopes)) Object.assign(claims, { email: input.email, email_verified: true });
  if (input.nonce) claims.nonce = input.nonce;
  return pubsubOf(state).signJwt(claims);
}
