/**
 * Form and query values: repeated keys become arrays, as Google's endpoints accept them.
 */

export type FormValues = Record<string, string | string[] | undefined>;

export function parseForm(text: string): FormValues {
  const out: FormValues = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else out[key] = Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

export function first(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.length ? String(value[0]) : undefined;
  return value === undefined || value === null ? undefined : String(value);
}

export function all(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

/** The body as form values whatever parser produced it (form, JSON object or nothing). */
export function asForm(body: unknown): FormValues {
  if (body && typeof body === "object" && !Buffer.isBuffer(body)) return body as FormValues;
  if (typeof body === "string") return parseForm(body);
  if (Buffer.isBuffer(body)) return parseForm(body.toString("utf8"));
  return {};
}
