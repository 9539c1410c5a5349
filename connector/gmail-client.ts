import { gmail, type gmail_v1 } from "@googleapis/gmail";
import { OAuth2Client } from "google-auth-library";
import type { GoogleEndpoints } from "./endpoints.ts";

/**
 * A Gmail v1 client for one access token. The token is only ever refreshed by
 * the caller's token manager (one refresh per connection across processes), so
 * this client carries no refresh token of its own.
 */
export function gmailClient(endpoints: GoogleEndpoints, accessToken: string): gmail_v1.Gmail {
  const auth = new OAuth2Client();
  // No expiry_date: the library would try (and fail) to refresh a token near expiry on its own.
  auth.setCredentials({ access_token: accessToken, token_type: "Bearer" });
  return gmail({ version: "v1", auth, rootUrl: endpoints.gmailUrl, retry: false } as any);
}
