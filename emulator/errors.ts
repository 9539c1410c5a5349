/**
 * Google's error bodies, exactly as the real endpoints answer them (see GOOGLE.md).
 *
 * Two families: the JSON API envelope `{error: {code, message, errors, status}}` used by Gmail
 * and userinfo, and the OAuth token-endpoint body `{error, error_description}`.
 */

/** An error that carries the exact status and body Google would answer. */
export class GoogleError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body === "object" && body && "error" in body ? JSON.stringify(body) : String(body));
    this.name = "GoogleError";
  }
}

const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ALREADY_EXISTS",
  413: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** The Gmail API envelope with one `errors[]` entry. */
export function apiError(
  code: number,
  message: string,
  reason: string,
  domain = "global",
  extra: Record<string, string> = {},
): GoogleError {
  return new GoogleError(code, {
    error: {
      code,
      message,
      errors: [{ message, domain, reason, ...extra }],
      status: STATUS_NAMES[code] ?? "UNKNOWN",
    },
  });
}

/** 401 for a bad, expired or revoked bearer token (GOOGLE.md, key order kept). */
export function authError(): GoogleError {
  return new GoogleError(401, {
    error: {
      errors: [
        {
          domain: "global",
          reason: "authError",
          message: "Invalid Credentials",
          locationType: "header",
          location: "Authorization",
        },
      ],
      code: 401,
      message: "Invalid Credentials",
    },
  }, { "www-authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"' });
}

/** 401 when no credential was sent at all. */
export function loginRequired(): GoogleError {
  const message =
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
  return new GoogleError(401, {
    error: {
      code: 401,
      message,
      errors: [{ message: "Login Required.", domain: "global", reason: "required", location: "Authorization", locationType: "header" }],
      status: "UNAUTHENTICATED",
    },
  });
}

export function insufficientScopes(): GoogleError {
  const message = "Request had insufficient authentication scopes.";
  return new GoogleError(403, {
    error: {
      code: 403,
      message,
      errors: [{ message: "Insufficient Permission", domain: "global", reason: "insufficientPermissions" }],
      status: "PERMISSION_DENIED",
    },
  });
}

export function forbidden(message: string): GoogleError {
  return apiError(403, message, "forbidden");
}

export function notFound(): GoogleError {
  return apiError(404, "Requested entity was not found.", "notFound");
}

export function badRequest(message: string, reason = "invalidArgument"): GoogleError {
  return apiError(400, message, reason);
}

export function rateLimitExceeded(): GoogleError {
  return apiError(429, "User-rate limit exceeded", "rateLimitExceeded", "usageLimits");
}

export function uploadTooLarge(limit: number): GoogleError {
  return apiError(413, `Request payload size exceeds the limit: ${limit} bytes.`, "uploadTooLarge");
}

/** An injected fault with the body Google uses for that status. */
export function faultError(status: number): GoogleError {
  if (status === 429) return rateLimitExceeded();
  if (status === 403) return apiError(403, "User-rate limit exceeded", "userRateLimitExceeded", "usageLimits");
  if (status === 401) return authError();
  if (status >= 500) {
    return apiError(status, status === 503 ? "The service is currently unavailable." : "Internal error encountered.", "backendError");
  }
  return apiError(status, "Injected fault", "failedPrecondition");
}

/** The token endpoint's `{error, error_description}` body. */
export function oauthError(status: number, error: string, description?: string): GoogleError {
  return new GoogleError(status, description === undefined ? { error } : { error, error_description: description });
}

/**
 * A request the emulator cannot read (a field of the wrong type, a bad escape, a query or MIME
 * tree too deep). It carries no body of its own: the endpoint family that received it renders
 * it in that family's shape ({@link renderBadInput}).
 */
export class BadInput extends Error {
  constructor(
    message: string,
    /** The `reason` of the Gmail envelope. */
    readonly reason = "invalidArgument",
    readonly statusCode = 400,
  ) {
    super(message);
    this.name = "BadInput";
  }
}
