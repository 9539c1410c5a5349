/**
 * fast-check arbitraries generated from an OpenAPI document: for each
 * operation, requests whose body, path parameters, query parameters and
 * headers are mostly valid (to get past the first check and reach the deeper
 * ones) with hostile values mixed in at every level: wrong JSON types, NUL,
 * unpaired surrogates, 1 MB strings, deep nesting, `__proto__` keys, broken
 * encodings, `..`, 5,000-character ids.
 *
 * Bodies are generated as JSON text, not as values, so that keys such as
 * `__proto__` and nesting deeper than JSON.stringify would take survive.
 */
import fc from "fast-check";

export type Schema = Record<string, any>;

export interface Operation {
  method: string;
  /** OpenAPI path template, e.g. `/v1/connections/{id}`. */
  path: string;
  pathParams: string[];
  query: { name: string; schema: Schema }[];
  body?: Schema;
}

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

export interface FuzzContext {
  /** Ids that exist: the caller's own and another account's. */
  ids: string[];
  /** The caller's own ids. */
  ownIds: string[];
  /** Valid values of Authorization (most requests), and the caller's own token first. */
  authorizations: string[];
}

/** Every operation of the document. */
export function operationsOf(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths ?? {})) {
    for (const [method, op] of Object.entries<any>(item)) {
      const params: any[] = op.parameters ?? [];
      ops.push({
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
        query: params.filter((p) => p.in === "query").map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        body: op.requestBody?.content?.["application/json"]?.schema,
      });
    }
  }
  return ops;
}

const MB = 1024 * 1024;
/** Built once: generating a megabyte per run would be the suite's whole time budget. */
const ONE_MB = "x".repeat(MB);
const DEEP = 10_000;

/** Strings no text field may hold, and strings that look like something else. */
export const hostileStrings = [
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udc00y",
  "\udfff\ud800",
  "%00",
  "%",
  "%zz",
  "../../etc/passwd",
  "..",
  "\\",
  "' OR 1=1 --",
  "$1",
  "{{constructor.constructor('return process')()}}",
  "<script>alert(1)</script>",
  "\u202e\u200b\ufeff",
  "😀".repeat(30),
  " ",
  "",
  "\r\nX-Injected: 1",
];

const text = (v: string) => JSON.stringify(v);

/** JSON text of a value of the wrong type for `schema`, or a hostile one of the right type. */
function hostileJson(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...hostileStrings).map(text),
    fc.constantFrom("null", "true", "false", "0", "-1", "1e308", "-0", "1.5", "9007199254740993", "[]", "{}", "[null]", '[""]', '{"":""}'),
    fc.constant(text(ONE_MB)),
    fc.constant(`${"[".repeat(DEEP)}${"]".repeat(DEEP)}`),
    fc.constant(`${'{"a":'.repeat(DEEP)}1${"}".repeat(DEEP)}`),
    fc.constantFrom('{"__proto__":{"isAdmin":true}}', '{"constructor":{"prototype":{"isAdmin":true}}}', '{"toString":1,"valueOf":{}}'),
    fc.array(fc.constantFrom(...hostileStrings), { maxLength: 3 }).map((a) => JSON.stringify(a)),
    fc.string({ unit: "binary", maxLength: 30 }).map(text),
    fc.integer().map(String),
  );
}

/** A valid-looking string for a string schema. */
function validString(schema: Schema, ctx: FuzzContext, strict: boolean): fc.Arbitrary<string> {
  if (schema.format === "date-time") return fc.constant(new Date(0).toISOString());
  const max = Math.min(schema.maxLength ?? 30, 30);
  const min = Math.min(schema.minLength ?? 0, max);
  const fits = (s: string) => s.length >= (schema.minLength ?? 0) && s.length <= (schema.maxLength ?? Infinity);
  // Ids: the ones that exist (the caller's own when strict), so that requests get past the 404.
  if (schema.pattern === "^[A-Za-z0-9_-]+$") return fc.constantFrom(...(strict ? ctx.ownIds : ctx.ids));
  if (schema.pattern) {
    try {
      return fc.stringMatching(new RegExp(schema.pattern)).filter(fits);
    } catch {
      // A pattern fast-check cannot generate from: plain words below.
    }
  }
  const choices: fc.Arbitrary<string>[] = [];
  choices.push(fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/).map((s) => `fuzz-${s}`.slice(0, Math.max(max, 1))).filter(fits));
  if (min === 0) choices.push(fc.string({ maxLength: max }));
  return fc.oneof(...choices);
}

/**
 * JSON text of a value that `schema` accepts, as far as a generator can tell; unless `strict`,
 * its children are fuzzed in turn.
 */
export function validJson(schema: Schema, ctx: FuzzContext, depth = 0, strict = false): fc.Arbitrary<string> {
  if (depth > 6) return fc.constant("null");
  if (schema.enum) return fc.constantFrom(...schema.enum.map((v: unknown) => JSON.stringify(v)));
  if (schema.const !== undefined) return fc.constant(JSON.stringify(schema.const));
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...(alternatives as Schema[]).map((s): fc.Arbitrary<string> => validJson({ ...schema, anyOf: undefined, oneOf: undefined, ...s }, ctx, depth + 1, strict)));
  const types: string[] = [schema.type ?? (schema.properties ? "object" : "string")].flat().filter((t) => !strict || t !== "null" || schema.type === "null");
  const child = (s: Schema) => (strict ? validJson(s, ctx, depth + 1, true) : fuzzJson(s, ctx, depth + 1));
  return fc.oneof(
    ...types.map((type): fc.Arbitrary<string> => {
      switch (type) {
        case "string":
          return validString(schema, ctx, strict).map(text);
        case "integer":
        case "number":
          return fc.integer({ min: schema.minimum ?? -5, max: Math.min(schema.maximum ?? 1000, (schema.minimum ?? 0) + 1000) }).map(String);
        case "boolean":
          return fc.boolean().map(String);
        case "null":
          return fc.constant("null");
        case "array": {
          const min = schema.minItems ?? 0;
          return fc
            .array(child(schema.items ?? {}), { minLength: min, maxLength: Math.max(min, Math.min(schema.maxItems ?? 3, 3)) })
            .map((items) => `[${(schema.uniqueItems ? [...new Set(items)] : items).join(",")}]`);
        }
        case "object":
          return objectJson(schema, ctx, depth, strict);
        default:
          return fc.constant("null");
      }
    }),
  );
}

/** An object: required properties, some optional ones, now and then an unknown or prototype key. */
function objectJson(schema: Schema, ctx: FuzzContext, depth: number, strict = false): fc.Arbitrary<string> {
  const props = Object.entries<Schema>(schema.properties ?? {});
  const required = new Set<string>(schema.required ?? []);
  const entries = props.map(([name, s]) =>
    fc.tuple(fc.constant(name), strict ? validJson(s, ctx, depth + 1, true) : fuzzJson(s, ctx, depth + 1), required.has(name) ? fc.constant(true) : fc.boolean()),
  );
  const extras: fc.Arbitrary<[string, string][]> = strict
    ? fc.constant([])
    : fc.array(fc.tuple(fc.constantFrom("__proto__", "constructor", "prototype", "extra", "\u0000", "\ud800", ""), hostileJson()), { maxLength: 1 });
  return fc.tuple(fc.tuple(...entries), fc.nat({ max: strict ? 0 : 19 }), extras).map(([all, dropOne, extra]) => {
    // Mostly every required property; one in twenty bodies drops the first.
    const first = [...required][0];
    const kept = all.filter(([name, , keep]) => keep && !(!strict && dropOne === 0 && name === first));
    const pairs = [...kept.map(([k, v]) => [k, v] as const), ...extra];
    return `{${pairs.map(([k, v]) => `${text(k)}:${v}`).join(",")}}`;
  });
}

/** Mostly valid, sometimes hostile: at every level of the body. */
export function fuzzJson(schema: Schema, ctx: FuzzContext, depth = 0): fc.Arbitrary<string> {
  return fc.oneof({ arbitrary: validJson(schema, ctx, depth), weight: 10 }, { arbitrary: hostileJson(), weight: 1 });
}

/** A path segment as sent on the wire (already encoded). */
function pathSegment(ctx: FuzzContext): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...ctx.ids), weight: 4 },
    { arbitrary: fc.constantFrom(...hostileStrings).map((s) => encodeURIComponent(s.isWellFormed() ? s : s.replace(/[\ud800-\udfff]/g, "\ufffd"))), weight: 2 },
    {
      arbitrary: fc.constantFrom(
        "%00",
        "con_1%00",
        "%ED%A0%80", // a surrogate, as UTF-8 bytes
        "%C0%AE%C0%AE", // overlong dots
        "%E0%A4%A",
        "%zz",
        "a%",
        "..",
        "%2e%2e",
        ".",
        "%2F",
        "a%2Fb",
        "%5C",
        ";x=1",
        "x".repeat(5000),
        "con_".padEnd(65, "0"),
        "%F0%9F%98%80",
      ),
      weight: 2,
    },
    { arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 20 }).map((s) => encodeURIComponent(s.isWellFormed() ? s : "x")), weight: 1 },
  );
}

function queryString(op: Operation, ctx: FuzzContext): fc.Arbitrary<string> {
  const value = (schema: Schema) =>
    fc.oneof(
      { arbitrary: validJson(schema, ctx, 0, true).map((j) => String(JSON.parse(j))), weight: 6 },
      { arbitrary: fc.constantFrom(...hostileStrings, "-1", "0", "1e9", "NaN", "x".repeat(5000)), weight: 1 },
    );
  const maybe = <T>(arb: fc.Arbitrary<T>, presentWeight: number) =>
    fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: arb, weight: presentWeight });
  const known = op.query.map((q) => maybe(fc.tuple(fc.constant(q.name), value(q.schema)), 3));
  const extra = maybe(fc.tuple(fc.constantFrom("extra", "__proto__", "limit", "%00", "a[b]"), fc.constantFrom(...hostileStrings)), 1);
  return fc
    .tuple(fc.tuple(...known), extra, fc.nat({ max: 9 }).map((n) => n === 0))
    .map(([pairs, more, raw]) => {
      const all = [...pairs, more].filter((p): p is [string, string] => p !== undefined);
      const encode = (s: string) => (s.isWellFormed() ? encodeURIComponent(s) : s.replace(/[\ud800-\udfff]/g, "%ED%A0%80"));
      const qs = all.map(([k, v]) => `${encode(k)}=${encode(v)}`).join("&");
      // Now and then a broken escape as sent by a careless client.
      return raw && all.length ? `${qs}&%zz=%E0%A4` : qs;
    });
}

function headers(ctx: FuzzContext, hasBody: boolean): fc.Arbitrary<Record<string, string>> {
  const authorization = fc.oneof(
    { arbitrary: fc.constant(ctx.authorizations[0]!), weight: 12 },
    { arbitrary: fc.constantFrom(...ctx.authorizations), weight: 2 },
    {
      arbitrary: fc.constantFrom(
        "",
        "Bearer",
        "Bearer ",
        "Bearer mb_nope",
        "bearer " + "a".repeat(200),
        "Basic YWRtaW46YWRtaW4=",
        "Bearer " + "x".repeat(8000),
        `${ctx.authorizations[0]} extra`,
        "Bearer %00",
        "Token abc",
      ),
      weight: 2,
    },
    { arbitrary: fc.constant(undefined), weight: 1 },
  );
  const contentType = hasBody
    ? fc.oneof(
        { arbitrary: fc.constant("application/json"), weight: 10 },
        {
          arbitrary: fc.constantFrom("application/json; charset=utf-8", "application/json; charset=latin1", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "", undefined),
          weight: 2,
        },
      )
    : fc.constant(undefined);
  return fc.tuple(authorization, contentType).map(([auth, type]) => ({
    ...(auth !== undefined ? { authorization: auth } : {}),
    ...(type !== undefined ? { "content-type": type } : {}),
  }));
}

/** Requests to one operation. */
export function requestsFor(op: Operation, ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const params = fc.tuple(...op.pathParams.map(() => pathSegment(ctx)));
  const hasBody = op.body !== undefined || op.method === "POST" || op.method === "PATCH";
  const body = op.body
    ? fc.oneof(
        { arbitrary: validJson(op.body, ctx, 0, true), weight: 4 },
        { arbitrary: objectJson(op.body, ctx, 0), weight: 6 },
        { arbitrary: hostileJson(), weight: 1 },
        { arbitrary: fc.constantFrom("", "{", '{"a":1,}', "\u0000", "[", "nul", '{"a":"\\ud800"}', '{"a":"\\u0000"}'), weight: 1 },
      )
    : hasBody
      ? fc.option(fc.constantFrom("{}", "", "null", '{"__proto__":{}}', hostileStrings[0]!), { nil: undefined })
      : fc.oneof({ arbitrary: fc.constant(undefined), weight: 8 }, { arbitrary: fc.constantFrom("{}", "x"), weight: 1 });
  return fc.tuple(params, queryString(op, ctx), headers(ctx, hasBody), body).map(([values, qs, h, payload]) => {
    let i = 0;
    const path = op.path.replace(/\{[^}]+\}/g, () => values[i++]!);
    return { method: op.method, url: qs ? `${path}?${qs}` : path, headers: h, ...(payload !== undefined ? { payload } : {}) };
  });
}

/**
 * The same operation with each body field, in turn, replaced by hostile values: every kind at
 * the top level, NUL, an unpaired surrogate and a wrong type at every nested leaf of `base` (a
 * body the API accepts). Run first, so that every field meets them whatever the random runs pick.
 */
export function fieldByField(op: Operation, url: string, authorization: string, base: string): FuzzRequest[] {
  if (!op.body?.properties) return [];
  const topKinds = ['"\\u0000"', '"a\\ud800"', text(ONE_MB), "123", "null", "[]", '{"__proto__":{"x":1}}', `${"[".repeat(DEEP)}${"]".repeat(DEEP)}`];
  const leafKinds = ['"\\u0000"', '"x\\udc00"', "123", '{"a":1}'];
  const value = JSON.parse(base) as unknown;
  const MARK = "\u0001fuzz-mark\u0001";
  const replaced = (path: (string | number)[], kind: string) => {
    const copy = structuredClone(value) as any;
    let node = copy;
    for (const key of path.slice(0, -1)) node = node[key];
    node[path[path.length - 1]!] = MARK;
    return JSON.stringify(copy).replace(JSON.stringify(MARK), kind);
  };
  const request = (payload: string): FuzzRequest => ({ method: op.method, url, headers: { authorization, "content-type": "application/json" }, payload });
  const out: FuzzRequest[] = [];
  for (const field of Object.keys(op.body.properties)) for (const kind of topKinds) out.push(request(replaced([field], kind)));
  const leaves: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    else if (path.length > 1) leaves.push(path);
  };
  walk(value, []);
  for (const path of leaves) for (const kind of leafKinds) out.push(request(replaced(path, kind)));
  return out;
}
