/**
 * The one way the emulator checks what it reads: a JSON Schema per body (Gmail resources, OAuth
 * forms, admin bodies), compiled once with Ajv. A value that does not fit becomes a
 * {@link BadInput} worded as Google words it (`Invalid value at 'ids[0]' (TYPE_STRING), …`,
 * `Unknown name "x": Cannot find field.`); the endpoint family renders it in its own body.
 * Handlers then read values whose types are known, so nothing downstream can throw on them.
 */
import { Ajv, type ErrorObject } from "ajv";
import addFormatsModule from "ajv-formats";
import { BadInput } from "./errors.ts";

const addFormats = addFormatsModule as unknown as (ajv: Ajv, formats?: string[]) => Ajv;

// verbose: each error carries the offending data and its schema, to word the message.
const ajv = new Ajv({ allErrors: false, verbose: true, strict: true, allowUnionTypes: true, coerceTypes: false, useDefaults: false });
addFormats(ajv, ["uri"]);

export type Schema = Record<string, unknown>;

export interface ReaderOptions {
  /**
   * `proto` names fields in messages as Google's ESF does (`add_label_ids[0]`); `json` keeps the
   * JSON names (`redirectUris[0]`), for the admin routes.
   * @defaultValue `"proto"`
   */
  style?: "proto" | "json";
}

/** A checked value of type `T`, or a thrown {@link BadInput}. */
export type Reader<T> = (value: unknown) => T;

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function fieldPath(instancePath: string, style: "proto" | "json"): string {
  let out = "";
  for (const raw of instancePath.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += `${out ? "." : ""}${style === "proto" ? snake(seg) : seg}`;
  }
  return out;
}

/** A short, safe rendering of a rejected value: never a megabyte, never a deep walk. */
export function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (Array.isArray(value)) return "[…]";
  if (value && typeof value === "object") return "{…}";
  return String(value);
}

const TYPE_NAMES: Record<string, string> = {
  string: "TYPE_STRING",
  boolean: "TYPE_BOOL",
  integer: "TYPE_INT64",
  number: "TYPE_DOUBLE",
  object: "TYPE_MESSAGE",
};

function typeName(schema: Schema | undefined): string {
  if (!schema) return "TYPE_MESSAGE";
  if (schema.enum) return "TYPE_ENUM";
  if (schema.contentEncoding === "base64") return "TYPE_BYTES";
  if (schema.format === "uri") return "URL";
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "array") return typeName(schema.items as Schema | undefined);
  return TYPE_NAMES[String(type)] ?? "TYPE_MESSAGE";
}

function describe(e: ErrorObject, style: "proto" | "json"): string {
  const path = fieldPath(e.instancePath, style);
  const at = path ? ` at '${path}'` : "";
  const parent = e.parentSchema as Schema | undefined;
  switch (e.keyword) {
    case "additionalProperties":
      return `Invalid JSON payload received. Unknown name ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}${at}: Cannot find field.`;
    case "type":
      if (!path) return 'Invalid JSON payload received. Unknown name "": Root element must be a message.';
      return `Invalid value at '${path}' (${typeName(parent)}), ${shown(e.data)}`;
    case "required": {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      const field = path ? `${path}.${missing}` : missing;
      return `Missing required field: ${style === "proto" ? snake(field) : field}`;
    }
    case "maxItems":
      return `Too many values at '${path}': at most ${(e.params as { limit: number }).limit}.`;
    case "pattern":
      if (parent?.contentEncoding === "base64") return `Invalid value at '${path}' (TYPE_BYTES), Base64 decoding failed for ${shown(e.data)}`;
      return `Invalid value at '${path}' (${typeName(parent)}), ${shown(e.data)}`;
    case "enum":
    case "format":
      return `Invalid value at '${path}' (${typeName(parent)}), ${shown(e.data)}`;
    default:
      return `Invalid value at '${path}': ${e.message ?? "not accepted"}.`;
  }
}

/** Compiles `schema` into a reader that returns the value typed, or throws {@link BadInput}. */
export function reader<T>(schema: Schema, opts: ReaderOptions = {}): Reader<T> {
  const validate = ajv.compile(schema);
  const style = opts.style ?? "proto";
  return (value: unknown): T => {
    if (validate(value)) return value as T;
    const first = validate.errors?.[0];
    throw new BadInput(first ? describe(first, style) : "Invalid JSON payload received.", "invalid");
  };
}

// Schema building blocks.
export const str = { type: "string" } as const;
export const strList = (maxItems?: number) =>
  maxItems === undefined ? { type: "array", items: str } : { type: "array", items: str, maxItems };
export const object = (properties: Record<string, unknown>, extra: Schema = {}): Schema => ({
  type: "object",
  properties,
  additionalProperties: false,
  ...extra,
});
