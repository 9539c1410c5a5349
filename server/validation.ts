/**
 * Two Ajv instances behind Fastify's validator: bodies are checked strictly
 * (no coercion, unknown fields rejected by `additionalProperties: false`, never
 * silently removed); querystrings and params are coerced from strings.
 *
 * One rule for text, applied from here to every schema a route declares: every
 * string the API accepts is well-formed Unicode (no unpaired surrogate) without
 * NUL, which PostgreSQL cannot store. Otherwise 400 `validation_failed` naming
 * the field; nothing is rewritten. JSON bodies must be valid UTF-8 for the same
 * reason (a decoder would otherwise turn bad bytes into U+FFFD without a word).
 */
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import type { FastifyInstance } from "fastify";
import { ApiError } from "../core/errors.ts";

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** The keyword every string schema gets (and every free-form object, for the strings inside it). */
export const TEXT_KEYWORD = "x-text";
const TEXT_MESSAGE = "must be valid Unicode text without NUL characters";

// ES2024, in Node since 20: not in the ES2023 lib this project compiles against.
declare global {
  interface String {
    isWellFormed(): boolean;
  }
}

/** Well-formed UTF-16 (no lone surrogate) and no NUL. */
export function isText(s: string): boolean {
  return s.isWellFormed() && !s.includes("\u0000");
}

/** Every string in `value`, keys included, is text. */
function isTextDeep(value: unknown, depth = 0): boolean {
  if (typeof value === "string") return isText(value);
  // Deeper than any body the API takes: refuse rather than recurse without bound.
  if (depth > 64) return false;
  if (Array.isArray(value)) return value.every((v) => isTextDeep(v, depth + 1));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).every(([k, v]) => isText(k) && isTextDeep(v, depth + 1));
  }
  return true;
}

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    allErrors: false,
    removeAdditional: false,
    useDefaults: true,
    coerceTypes: coerce ? "array" : false,
    strict: false,
  });
  addFormats(ajv);
  ajv.addKeyword({
    keyword: TEXT_KEYWORD,
    schemaType: "boolean",
    validate: (enabled: boolean, data: unknown) => !enabled || isTextDeep(data),
    error: { message: TEXT_MESSAGE },
  });
  return ajv;
}

const typesOf = (node: Record<string, unknown>): unknown[] => [node.type].flat();
/** Keys whose values are data, not schemas. */
const DATA_KEYS = new Set(["enum", "const", "default", "examples", "example", "required"]);

/**
 * A copy of `schema` with the text rule on every string schema, and on every object schema
 * that does not describe its properties (its strings are checked whole).
 */
export function withTextRule(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withTextRule);
  if (schema === null || typeof schema !== "object") return schema;
  const node = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = DATA_KEYS.has(k) ? v : withTextRule(v);
  const types = typesOf(node);
  const freeForm = types.includes("object") && node.properties === undefined && node.additionalProperties !== false;
  if (types.includes("string") || freeForm) out[TEXT_KEYWORD] = true;
  return out;
}

export function installValidation(app: FastifyInstance, sharedSchemas: object[]): void {
  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  for (const s of sharedSchemas) {
    strict.addSchema(s);
    coercing.addSchema(s);
  }
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === "body" ? strict : coercing).compile(withTextRule(schema) as object) as any);

  // JSON as Fastify parses it (prototype poisoning refused), from bytes that must be UTF-8.
  const parseJson = app.getDefaultJsonParser("error", "error");
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      return done(new ApiError("invalid_json", "The request body is not valid UTF-8."), undefined);
    }
    parseJson(request, text, done);
  });
}
