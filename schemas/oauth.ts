/** Shapes of Save & authorize, test and deauthorize. */
export const authorizeResponse = {
  type: "object",
  required: ["authorizeUrl", "expiresAt"],
  properties: {
    authorizeUrl: { type: "string", description: "Open this in the popup: Google's consent page." },
    expiresAt: { type: "string", format: "date-time", description: "The attempt's state expires 10 minutes after it was issued." },
  },
} as const;

export const testResponse = {
  type: "object",
  required: ["ok"],
  properties: {
    ok: { type: "boolean" },
    email: { type: "string" },
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string" } },
    },
  },
} as const;

export const callbackQuery = {
  type: "object",
  properties: {
    state: { type: "string", maxLength: 200 },
    code: { type: "string", maxLength: 2000 },
    scope: { type: "string", maxLength: 4000 },
    error: { type: "string", maxLength: 200 },
    authuser: { type: "string" },
    prompt: { type: "string" },
    hd: { type: "string" },
    iss: { type: "string", maxLength: 500, description: "The issuer of the response (RFC 9207); when present it must be the configured issuer." },
  },
} as const;

/** POST bodies with nothing to say: none, or an empty object. */
export const emptyBody = { type: "object", additionalProperties: false, properties: {} } as const;
