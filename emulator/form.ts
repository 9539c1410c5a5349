/**
 * Form and query values: repeated keys become arrays, as Google's endpoints accept them.
 */
import { reader, str, strList } from "./validation.ts";

export type FormValues = Record<string, string | string[] | undefined>;

export function parseForm(text: string): FormValues {
  // No prototype: a `__proto__` key is a field like any other.
  const out: FormValues = Object.create(null);
  for (const [key, value] of new URLSearchParams(text)) {
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else out[key] = Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

export function first(value: unknown): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return typeof v === "string" ? v : undefined;
}

export function all(value: unknown): string[] {
  if (typeof value === "string") return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** Every value a string or a list of strings (a JSON body may carry anything). */
const formShape = reader<FormValues>({ type: "object", additionalProperties: { anyOf: [str, strList()] } });

/**
 * The body as form values whatever parser produced it (form, JSON object or nothing); a value
 * that is not text throws {@link BadInput}.
 */
export function asForm(body: unknown): FormValues {
  if (body === undefined || body === null) return {};
  if (typeof body === "string") return parseForm(body);
  if (Buffer.isBuffer(body)) return parseForm(body.toString("utf8"));
  return formShape(body);
}
