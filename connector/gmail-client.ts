import { gmail, type gmail_v1 } from "@googleapis/gmail";
import { OAuth2Client } from "google-auth-library";
import type { GoogleEndpoints } from "./endpoints.ts";

/**
 * Per-call options every Gmail call must pass: `@googleapis/gmail` drops the
 * path of a *global* rootUrl (it re-resolves `/gmail/v1/...` against it), so
 * an emulator mounted under a path only works with a per-call rootUrl, which
 * media uploads need anyway.
 */
export interface GmailCallOptions {
  rootUrl: string;
}

export function gmailCallOptions(endpoints: GoogleEndpoints): GmailCallOptions {
  return { rootUrl: endpoints.gmailUrl };
}

/**
 * A Gmail v1 client for one access token. The token is only ever refreshed by
 * the caller's token manager (one refresh per connection across processes), so
 * this client carries no refresh token of its own.
 */
export function gmailClient(accessToken: string): gmail_v1.Gmail {
  const auth = new OAuth2Client();
  // No expiry_date: the library would try (and fail) to refresh a token near expiry on its own.
  auth.setCredentials({ access_token: accessToken, token_type: "Bearer" });
  // Retries are ours: a rate limit pauses the whole pool (server/gmail-runner.ts), not one request.
  return gmail({ version: "v1", auth, retry: false });
}
