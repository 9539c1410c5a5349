/**
 * The emulator's endpoint families and their error bodies. Google answers a bad request in the
 * body of the endpoint that received it: the Gmail/userinfo JSON envelope, the token endpoint's
 * `{error, error_description}`, an HTML page on the authorization endpoint. `/_admin` is ours
 * (SPEC §3) and answers `{error: {code, message}}`.
 */
import { errorPage } from "./consent-page.ts";
import { apiError, BadInput, GoogleError, oauthError } from "./errors.ts";

export type Family = "gmail" | "oauth" | "consent" | "admin";

/** The family of a path under the emulator's own root (prefix already removed). */
export function familyOf(path: string): Family {
  const p = path.split("?")[0];
  if (p === "/token" || p === "/revoke" || p === "/v1/userinfo") return "oauth";
  if (p === "/o/oauth2/v2/auth" || p.startsWith("/o/oauth2/")) return "consent";
  if (p === "/_admin" || p.startsWith("/_admin/")) return "admin";
  return "gmail";
}

/** An admin-route error (SPEC §3 shape). */
export function adminError(message: string, status = 400, code = status === 404 ? "not_found" : "invalid_request"): GoogleError {
  return new GoogleError(status, { error: { code, message } });
}

export function renderBadInput(family: Family, err: BadInput): GoogleError {
  switch (family) {
    case "oauth":
      return oauthError(err.statusCode, "invalid_request", err.message);
    case "consent":
      return new GoogleError(err.statusCode, errorPage("invalid_request", err.message));
    case "admin":
      return adminError(err.message, err.statusCode);
    case "gmail":
      return apiError(err.statusCode, err.message, err.reason);
  }
}
