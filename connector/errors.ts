/**
 * The connector's domain errors, checked with `instanceof`, never by message
 * text. `toConnectorError` maps what google-auth-library and @googleapis/gmail
 * throw (GaxiosError with Google's JSON body) onto them.
 */
export abstract class ConnectorError extends Error {
  abstract readonly code: string;
  /** True when retrying the same request cannot help. */
  get unrecoverable(): boolean {
    return false;
  }
}

/** The refresh token no longer works (`invalid_grant`): the connection goes offline. */
export class TokenRevokedError extends ConnectorError {
  readonly code = "token_revoked";
  override get unrecoverable(): boolean {
    return true;
  }
  constructor(options?: ErrorOptions) {
    super("Google says the authorization has expired or was revoked. Reauthorize the connection.", options);
    this.name = "TokenRevokedError";
  }
}

/** The connection was not granted a scope the operation needs. Raised before calling Google. */
export class MissingScopeError extends ConnectorError {
  readonly code = "missing_scope";
  override get unrecoverable(): boolean {
    return true;
  }
  constructor(readonly operation: string, readonly acceptedScopes: readonly string[]) {
    super(`${operation} needs one of these scopes, which the connection was not granted: ${acceptedScopes.join(", ")}.`);
    this.name = "MissingScopeError";
  }
}

/** Google asked us to slow down (429, or 403 rateLimitExceeded / userRateLimitExceeded). */
export class RateLimitedError extends ConnectorError {
  readonly code = "rate_limited";
  constructor(readonly retryAfterMs: number | undefined, options?: ErrorOptions) {
    super("Google rate limit reached.", options);
    this.name = "RateLimitedError";
  }
}

/** The authorization code could not be exchanged, or Google gave no refresh token. */
export class OAuthExchangeError extends ConnectorError {
  constructor(readonly code: "code_exchange_failed" | "no_refresh_token" | "userinfo_failed", message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "OAuthExchangeError";
  }
}

/** Any other answer from Google. */
export class GoogleApiError extends ConnectorError {
  readonly code: string;
  constructor(readonly status: number, readonly reason: string | undefined, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GoogleApiError";
    this.code = status === 401 ? "google_unauthorized" : status === 404 ? "google_not_found" : status === 403 ? "google_forbidden" : "google_error";
  }
  override get unrecoverable(): boolean {
    return this.reason === "dailyLimitExceeded" || (this.status >= 400 && this.status < 500 && this.status !== 408);
  }
}

interface GaxiosLike {
  status?: number;
  response?: { status?: number; headers?: unknown; data?: any };
}

const RATE_REASONS = new Set(["rateLimitExceeded", "userRateLimitExceeded"]);

function header(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, unknown>)[name];
  return typeof v === "string" ? v : undefined;
}

/** Map anything thrown by a Google client onto a ConnectorError (or return it when it already is one). */
export function toConnectorError(err: unknown): ConnectorError | undefined {
  if (err instanceof ConnectorError) return err;
  const g = err as GaxiosLike;
  const status = g?.response?.status ?? g?.status;
  if (typeof status !== "number") return undefined;
  const data = g.response?.data;
  if (data?.error === "invalid_grant") return new TokenRevokedError({ cause: err });
  const reason: string | undefined = data?.error?.errors?.[0]?.reason ?? data?.error?.status;
  if (status === 429 || (status === 403 && reason && RATE_REASONS.has(reason))) {
    const retryAfter = Number(header(g.response?.headers, "retry-after"));
    return new RateLimitedError(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined, { cause: err });
  }
  const message: string = data?.error?.message ?? data?.error_description ?? `Google answered ${status}.`;
  return new GoogleApiError(status, reason ?? (typeof data?.error === "string" ? data.error : undefined), message, { cause: err });
}
