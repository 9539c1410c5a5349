/**
 * The iClient model: an OAuth client id and its secret, shared by many
 * connections. The secret is stored sealed and is write-only: the API shows
 * only `clientSecretHint`.
 */

/** An iClient as the API returns it. */
export interface IClient {
  id: string;
  name: string;
  application: string;
  clientId: string;
  /** "…" and the secret's last 4 characters (just "…" for secrets under 8 characters). */
  clientSecretHint: string;
  /** null when unknown (created from id and secret); false when the imported JSON lacks our callback URL. */
  callbackUrlRegistered: boolean | null;
  usedBy: { id: string; name: string }[];
  /**
   * Gmail calls may go on past Google's daily billing threshold (`GMAIL_PROJECT_DAILY_UNITS`), where
   * usage is charged; when false, runs pause with `daily_quota_reached` until the next UTC day.
   * @defaultValue false
   */
  allowBilledUsage: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface CreateIClientInput {
  name: string;
  application: string;
  clientId?: string;
  clientSecret?: string;
  /** Google's downloaded client JSON, as an object or as the file's text. */
  clientJson?: unknown;
  /** @defaultValue false */
  allowBilledUsage?: boolean;
}

export type UpdateIClientInput = Partial<Omit<CreateIClientInput, "application">> & { application?: string };

/** The shortest secret whose last 4 characters may be shown. */
const HINT_MIN_LENGTH = 8;

export function secretHint(secret: string): string {
  return secret.length >= HINT_MIN_LENGTH ? `…${secret.slice(-4)}` : "…";
}

/** Whether Google would accept our callback URL for this client, when the redirect URIs are known. */
export function callbackRegistered(redirectUris: string[] | null, callbackUrl: string | undefined): boolean | null {
  if (!redirectUris || !callbackUrl) return null;
  return redirectUris.includes(callbackUrl);
}
