/**
 * The registry of API error codes: each with its HTTP status and default
 * message. The API always answers `{error: {code, message, details?}}`.
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, message: "The request is not valid." },
  invalid_json: { status: 400, message: "The request body is not valid JSON." },
  invalid_borrowing: { status: 400, message: "That concurrency borrowing is not allowed." },
  invalid_client_json: { status: 400, message: "The client JSON is not a Google OAuth client file." },
  invalid_archive: { status: 400, message: "The archive is not a valid mbox file." },
  iclient_required: { status: 400, message: "iClientId is required: no platform iClient is configured." },
  unauthorized: { status: 401, message: "A valid API token or session is required." },
  forbidden: { status: 403, message: "This token may not do that." },
  not_found: { status: 404, message: "Not found." },
  route_not_found: { status: 404, message: "No such route." },
  method_not_allowed: { status: 405, message: "Method not allowed." },
  conflict: { status: 409, message: "The request conflicts with the current state." },
  name_taken: { status: 409, message: "That name is already used." },
  in_use: { status: 409, message: "The resource is in use." },
  run_not_active: { status: 409, message: "The run has already finished." },
  not_authorized: { status: 409, message: "The connection is not authorized yet." },
  token_revoked: { status: 409, message: "The connection's authorization was revoked: reauthorize it." },
  reauthorize_required: { status: 409, message: "The connection must be authorized again." },
  connection_offline: { status: 409, message: "The connection is offline." },
  missing_scope: { status: 403, message: "The connection was not granted a scope this needs." },
  google_error: { status: 502, message: "Google refused the request." },
  payload_too_large: { status: 413, message: "The request body is too large." },
  uri_too_long: { status: 414, message: "The URL is too long." },
  headers_too_large: { status: 431, message: "The request headers are too large." },
  request_timeout: { status: 408, message: "The request took too long to arrive." },
  unsupported_media_type: { status: 415, message: "Send the body as application/json." },
  range_not_satisfiable: { status: 416, message: "The requested range is not in the file." },
  insufficient_storage: { status: 507, message: "There is not enough disk space for the archive." },
  rate_limited: { status: 429, message: "Too many requests." },
  google_unavailable: { status: 502, message: "Google did not answer as expected." },
  internal_error: { status: 500, message: "Something went wrong on our side." },
  service_unavailable: { status: 503, message: "The service is not ready." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error the API reports to the caller as-is. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message ?? ERROR_CODES[code].message, options);
    this.name = "ApiError";
    this.status = ERROR_CODES[code].status;
  }

  toJSON(): { error: { code: string; message: string; details?: unknown } } {
    return {
      error: { code: this.code, message: this.message, ...(this.details !== undefined ? { details: this.details } : {}) },
    };
  }
}

export const notFound = (what: string): ApiError => new ApiError("not_found", `${what} not found.`);
