/** Request and response shapes of `/v1/connections`, and the pieces the resource schemas share. */
import { GMAIL_SCOPE_URLS } from "../connector/scopes.ts";

export const APPLICATION_IDS = ["gmail"] as const;
/** Resource ids: `con_…`, `icl_…`. */
export const idPattern = "^[A-Za-z0-9_-]+$";
const resourceId = { type: "string", minLength: 1, maxLength: 64, pattern: idPattern } as const;

/** 1..100 characters, at least one visible, no control characters. */
export const resourceName = {
  type: "string",
  minLength: 1,
  maxLength: 100,
  pattern: "^[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f][^\\u0000-\\u001f\\u007f]*$",
  description: "1..100 characters, unique per account.",
} as const;

export const usageRef = {
  type: "object",
  additionalProperties: false,
  required: ["id", "name"],
  properties: { id: { type: "string" }, name: { type: "string" } },
} as const;

export const resourceIdParams = {
  type: "object",
  required: ["id"],
  properties: { id: resourceId },
} as const;

const PAGING_NOTE =
  "Paged by keyset on (createdAt, id), oldest first, so pages stay stable while resources are added: pass limit (1..200, default 50) and the nextCursor of the previous page as cursor; nextCursor is null on the last page. Cursors are opaque.";

export const listQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    limit: { type: "integer", minimum: 1, maximum: 200, default: 50 },
    cursor: { type: "string", minLength: 1, maxLength: 200, description: "nextCursor of the previous page." },
  },
} as const;

export function pageOf<T extends object>(item: T, what: string) {
  return {
    type: "object",
    additionalProperties: false,
    required: ["items", "nextCursor"],
    description: `A page of ${what}. ${PAGING_NOTE}`,
    properties: { items: { type: "array", items: item }, nextCursor: { type: ["string", "null"] } },
  } as const;
}

export const listDescription = PAGING_NOTE;

const scopes = {
  type: "array",
  minItems: 1,
  maxItems: GMAIL_SCOPE_URLS.length,
  uniqueItems: true,
  items: { type: "string", enum: GMAIL_SCOPE_URLS },
  description: "Scopes from the application's catalogue; userinfo.email is always added.",
} as const;
const level = { type: "integer", minimum: 1, maximum: 25, description: "Requests in flight at once (1..25, default 5). Not allowed with borrowConcurrencyFrom." } as const;
const nullableId = (description: string) => ({ anyOf: [resourceId, { type: "null" }], description }) as const;
const writable = {
  name: resourceName,
  application: { type: "string", enum: APPLICATION_IDS },
  scopes,
  iClientId: nullableId("iClient to authorize with; omit or null for the platform iClient (only when one is configured)."),
  borrowConcurrencyFrom: nullableId("Connection whose pool this one shares; the chain is resolved to its end. Null stops borrowing."),
  concurrencyLevel: level,
} as const;

export const createConnectionBody = {
  type: "object",
  additionalProperties: false,
  required: ["name", "application", "scopes"],
  properties: writable,
} as const;

export const updateConnectionBody = {
  type: "object",
  additionalProperties: false,
  description: "Changing scopes or the iClient of an online connection takes it offline with reauthorize_required.",
  properties: writable,
} as const;

const nullableString = { type: ["string", "null"] } as const;
const scopeList = { type: ["array", "null"], items: { type: "string" } } as const;

export const connectionSchema = {
  type: "object",
  additionalProperties: false,
  required: [
    "id", "name", "application", "scopes", "iClientId", "callbackUrl", "borrowConcurrencyFrom", "concurrencyLevel",
    "effectiveConcurrency", "status", "offlineReason", "email", "grantedScopes", "missingScopes", "authorizedAt", "revocation", "createdAt", "updatedAt",
  ],
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    application: { type: "string" },
    scopes: { type: "array", items: { type: "string" } },
    iClientId: { ...nullableString, description: "null: the platform iClient." },
    callbackUrl: { type: "string", description: "The fixed OAuth redirect URI to register with Google (read-only)." },
    borrowConcurrencyFrom: nullableString,
    concurrencyLevel: { type: ["integer", "null"], description: "The connection's own level; null while it borrows." },
    effectiveConcurrency: { type: "integer", description: "The limit that applies: the level of the lender at the end of the borrowing chain." },
    status: { type: "string", enum: ["unauthorized", "online", "offline"] },
    offlineReason: {
      type: ["object", "null"],
      additionalProperties: false,
      required: ["code", "message", "at"],
      properties: { code: { type: "string" }, message: { type: "string" }, at: { type: "string", format: "date-time" } },
    },
    email: nullableString,
    grantedScopes: scopeList,
    missingScopes: { ...scopeList, description: "Requested scopes the user did not grant." },
    authorizedAt: { type: ["string", "null"], format: "date-time" },
    revocation: {
      type: ["object", "null"],
      additionalProperties: false,
      required: ["status", "at", "error"],
      description:
        "A deauthorization Google did not confirm: the local tokens are gone but the grant may still be alive at Google. Retry with POST /v1/connections/{id}/revoke. Null when none is pending.",
      properties: {
        status: { type: "string", enum: ["failed"] },
        at: { type: "string", format: "date-time" },
        error: {
          type: "object",
          additionalProperties: false,
          required: ["code", "message"],
          properties: { code: { type: "string" }, message: { type: "string" } },
        },
      },
    },
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
  },
} as const;

export const connectionPageSchema = pageOf(connectionSchema, "connections");
