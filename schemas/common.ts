/** Shapes shared by every route: the error body and common parameters. */
export const errorSchema = {
  $id: "Error",
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string", description: "snake_case error code" },
        message: { type: "string" },
        details: {},
      },
    },
  },
} as const;

/** Standard error responses, referenced by every route's `response`. */
export const errorResponses = {
  400: { $ref: "Error#" },
  401: { $ref: "Error#" },
  404: { $ref: "Error#" },
  409: { $ref: "Error#" },
} as const;

/**
 * Resource ids as the stores make them (`con_` and 20 hex digits, core/secrets.ts `newId`):
 * anything else is refused by the route's schema before it can reach SQL.
 */
export const ID_PATTERN = "^[A-Za-z0-9_-]+$";

export const idParams = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", minLength: 1, maxLength: 64, pattern: ID_PATTERN } },
} as const;

export const pageQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    limit: { type: "integer", minimum: 1, maximum: 200, default: 50 },
    cursor: { type: "string", maxLength: 200 },
  },
} as const;
