/**
 * Partial responses: the `fields` query parameter every Google JSON API takes
 * (`fields=messages(id,threadId),nextPageToken`, `payload/headers`, `*`). A selection is parsed
 * once per call and applied to the answer; arrays are filtered element by element.
 */
import { BadInput } from "./errors.ts";

/** Field name → its own sub-selection, or `true` for the whole value. */
export type Selection = Map<string, Selection | true>;

/** Parentheses and slashes nest at most this deep. */
const MAX_DEPTH = 32;

function invalid(fields: string): BadInput {
  return new BadInput(`Invalid field selection ${fields.length > 100 ? `${fields.slice(0, 100)}…` : fields}`, "invalidParameter");
}

export function parseFields(fields: string): Selection {
  let pos = 0;
  const name = (): string => {
    const m = /^(?:\*|[A-Za-z_][A-Za-z0-9_]*)/.exec(fields.slice(pos));
    if (!m) throw invalid(fields);
    pos += m[0].length;
    return m[0];
  };
  const list = (depth: number): Selection => {
    if (depth > MAX_DEPTH) throw invalid(fields);
    const out: Selection = new Map();
    do {
      while (fields[pos] === " ") pos += 1;
      item(out, depth);
      while (fields[pos] === " ") pos += 1;
    } while (fields[pos] === "," && ++pos);
    return out;
  };
  const item = (into: Selection, depth: number): void => {
    const key = name();
    let sub: Selection | true = true;
    if (fields[pos] === "/") {
      pos += 1;
      if (depth + 1 > MAX_DEPTH) throw invalid(fields);
      sub = new Map();
      item(sub, depth + 1);
    } else if (fields[pos] === "(") {
      pos += 1;
      sub = list(depth + 1);
      if (fields[pos] !== ")") throw invalid(fields);
      pos += 1;
    }
    const prev = into.get(key);
    into.set(key, prev === undefined ? sub : prev === true || sub === true ? true : merge(prev, sub));
  };
  const selection = list(0);
  if (pos !== fields.length) throw invalid(fields);
  return selection;
}

function merge(a: Selection, b: Selection): Selection {
  const out: Selection = new Map(a);
  for (const [k, v] of b) {
    const prev = out.get(k);
    out.set(k, prev === undefined ? v : prev === true || v === true ? true : merge(prev, v));
  }
  return out;
}

/** The parts of `value` that `selection` names. */
export function applyFields(value: unknown, selection: Selection): unknown {
  if (Array.isArray(value)) return value.map((v) => applyFields(v, selection));
  if (!value || typeof value !== "object") return value;
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of selection) {
    const keys = key === "*" ? Object.keys(source) : Object.hasOwn(source, key) ? [key] : [];
    for (const k of keys) out[k] = sub === true ? source[k] : applyFields(source[k], sub);
  }
  return out;
}
