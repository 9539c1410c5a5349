/**
 * Turn a create or update body into the credentials to store: either
 * `clientId` + `clientSecret`, or `clientJson`, never both.
 */
import { ApiError } from "../core/errors.ts";
import { ClientJsonError, parseClientJson } from "./client-json.ts";

export interface CredentialChange {
  clientId?: string;
  clientSecret?: string;
  /** undefined: unchanged; null: now unknown; array: from the imported JSON. */
  redirectUris?: string[] | null;
}

export function credentialChange(
  body: { clientId?: string; clientSecret?: string; clientJson?: unknown },
  mode: "create" | "update",
): CredentialChange {
  const hasPair = body.clientId !== undefined || body.clientSecret !== undefined;
  if (body.clientJson !== undefined) {
    if (hasPair) {
      throw new ApiError("validation_failed", "Send either clientJson or clientId and clientSecret, not both.", [
        { field: "body.clientJson", message: "cannot be combined with clientId or clientSecret" },
      ]);
    }
    try {
      const parsed = parseClientJson(body.clientJson);
      return { clientId: parsed.clientId, clientSecret: parsed.clientSecret, redirectUris: parsed.redirectUris };
    } catch (err) {
      if (err instanceof ClientJsonError) {
        throw new ApiError("invalid_client_json", err.message, [{ field: "body.clientJson", message: err.message }]);
      }
      throw err;
    }
  }
  if (mode === "create" && (body.clientId === undefined || body.clientSecret === undefined)) {
    const missing = body.clientId === undefined ? "clientId" : "clientSecret";
    throw new ApiError("validation_failed", `body must have clientId and clientSecret, or clientJson (${missing} is missing).`, [
      { field: `body.${missing}`, message: "is required" },
    ]);
  }
  const change: CredentialChange = {};
  if (body.clientId !== undefined) {
    change.clientId = body.clientId;
    // A hand-typed client id: whether our callback URL is registered for it is unknown.
    change.redirectUris = null;
  }
  if (body.clientSecret !== undefined) change.clientSecret = body.clientSecret;
  return change;
}
