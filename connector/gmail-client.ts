import { gmail, type gmail_v1 } from "@googleapis/gmail";
import { OAuth2Client } from "google-auth-library";
import type { GoogleEndpoints } from "./endpoints.ts";

/**
 * A Gmail v1 client for one access token. The token is only ever refreshed by
 * the caller's token manager (one refresh per connection across processes), so
 * this client carries no refresh token of its own.
 */
export function gmailClient(endpoints: GoogleEndpoints, accessToken: string, expiryDate: number): gmail_v1.Gmail {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: accessToken, expiry_date: expiryDate, token_type: "Bearer" });
  return gmail({ version: "v1", auth, rootUrl: endpoints.gmailUrl, retry: false } as any);
}
