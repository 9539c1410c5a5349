/** `GET /v1/applications`: the applications a connection can be made to, with their scope catalogues. */
export const scopeInfoSchema = {
  type: "object",
  additionalProperties: false,
  required: ["scope", "label", "description", "sensitivity"],
  properties: {
    scope: { type: "string", description: "Full scope URL sent to Google." },
    label: { type: "string" },
    description: { type: "string" },
    sensitivity: { type: "string", enum: ["non-sensitive", "sensitive", "restricted"], description: "Google's verification class of the scope." },
  },
} as const;

export const applicationSchema = {
  type: "object",
  additionalProperties: false,
  required: ["id", "name", "scopes", "defaultScopes", "supports"],
  properties: {
    id: { type: "string", example: "gmail", description: "gmail: Google Mail (OAuth, a connection); archive: an mbox archive (no OAuth, no connection: a flow names it directly)." },
    name: { type: "string", example: "Google Mail" },
    scopes: { type: "array", items: scopeInfoSchema },
    defaultScopes: { type: "array", items: { type: "string" }, description: "Preselected scopes of a new connection." },
    supports: {
      type: "object",
      additionalProperties: false,
      required: ["source", "destination", "lookup"],
      properties: { source: { type: "boolean" }, destination: { type: "boolean" }, lookup: { type: "boolean" } },
    },
  },
} as const;

export const applicationListSchema = { type: "array", items: applicationSchema } as const;
