export const sessionBody = {
  type: "object",
  additionalProperties: false,
  required: ["token"],
  properties: { token: { type: "string", minLength: 1, maxLength: 200 } },
} as const;

export const accountSchema = {
  type: "object",
  required: ["id", "name"],
  properties: { id: { type: "string" }, name: { type: "string" }, isAdmin: { type: "boolean" } },
} as const;

export const createAccountBody = {
  type: "object",
  additionalProperties: false,
  required: ["name"],
  properties: { name: { type: "string", minLength: 1, maxLength: 100, pattern: "^[A-Za-z0-9][A-Za-z0-9._-]*$" } },
} as const;

export const createdAccountSchema = {
  type: "object",
  required: ["id", "name", "token"],
  properties: { id: { type: "string" }, name: { type: "string" }, token: { type: "string" } },
} as const;
