/**
 * Every Gmail API call goes through one pipeline: bearer token, the user in the path, the
 * method's scopes, the user's quota, latency and injected faults, and the per-user counters.
 * Routes are plain data so the batch endpoint runs exactly the same code as direct calls.
 */
import { bearer } from "./auth.ts";
import { quotaKey } from "./quota.ts";
import { apiError, BadInput, faultError, forbidden, GoogleError, insufficientScopes, rateLimitExceeded } from "./errors.ts";
import { applyFields, parseFields } from "./fields.ts";
import { first, type FormValues } from "./form.ts";
import type { Mailbox } from "./mailbox.ts";
import type { AccessToken, EmulatorState } from "./state.ts";
import type { Reader } from "./validation.ts";

export interface GmailCall {
  params: Record<string, string>;
  query: FormValues;
  body: unknown;
  contentType: string;
  /** The call came in under `/upload/…`. */
  upload: boolean;
  user: Mailbox;
  token: AccessToken;
  state: EmulatorState;
  route: GmailRoute;
}

export interface GmailRoute {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path under the base URL, fastify style: `/gmail/v1/users/:userId/messages/:id`. */
  path: string;
  scopes: readonly string[];
  cost: number;
  /** Set for methods that take a message: the raw size limit, and an `/upload` twin route. */
  uploadLimit?: number;
  /** The request body's schema (also applied to the metadata part of a multipart upload). */
  body?: Reader<unknown>;
  /** Returns the JSON body; `undefined` answers 204 as Gmail does for deletes. */
  handler(call: GmailCall): unknown;
}

export interface GmailResult {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export interface GmailInput {
  params: Record<string, string>;
  query: FormValues;
  body: unknown;
  contentType: string;
  authorization: string | undefined;
  upload: boolean;
}

/** A JSON route's body: nothing reads as `{}`; bytes that did not come in as JSON are refused. */
export function jsonBody(body: unknown): unknown {
  if (body === undefined || body === null) return {};
  if (Buffer.isBuffer(body)) {
    if (body.toString("utf8").trim() === "") return {};
    throw new BadInput("Invalid JSON payload received. Unexpected token.", "parseError");
  }
  return body;
}

/** Whether `token` may call `route` for the user in the path: that user, and one of its scopes. */
export function mayCall(route: GmailRoute, params: Record<string, string>, token: AccessToken): void {
  const userId = params.userId;
  if (userId !== "me" && userId?.toLowerCase() !== token.email) throw forbidden(`Delegation denied for ${token.email}`);
  if (!route.scopes.some((s) => token.scopes.includes(s))) throw insufficientScopes();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runGmail(state: EmulatorState, route: GmailRoute, input: GmailInput): Promise<GmailResult> {
  let stats: ReturnType<EmulatorState["userStats"]> | undefined;
  try {
    const token = bearer(state, input.authorization);
    stats = state.userStats(token.email);
    stats.requests += 1;
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    mayCall(route, input.params, token);
    if (route.body && !input.upload) route.body(jsonBody(input.body));
    const fields = first(input.query.fields);
    const selection = fields ? parseFields(fields) : undefined;
    if (!state.quota.charge(quotaKey(token.clientId, token.email), route.cost, state.settings.quotaUnitsPerMinute)) throw rateLimitExceeded();
    stats.quotaUnits += route.cost;
    if (state.settings.latencyMs > 0) await sleep(state.settings.latencyMs);
    const fault = state.settings.faults;
    if (fault && fault.rate > 0 && Math.random() < fault.rate) throw faultError(fault.status);
    const body = await route.handler({
      params: input.params,
      query: input.query,
      body: input.body,
      contentType: input.contentType,
      upload: input.upload,
      user: state.mailbox(token.email),
      token,
      state,
      route,
    });
    if (body === undefined) return { status: 204, body: undefined, headers: {} };
    return { status: 200, body: selection ? applyFields(body, selection) : body, headers: {} };
  } catch (err) {
    if (err instanceof GoogleError) return { status: err.statusCode, body: err.body, headers: err.headers };
    if (err instanceof BadInput) return { status: err.statusCode, body: apiError(err.statusCode, err.message, err.reason).body, headers: {} };
    throw err;
  } finally {
    if (stats) stats.inFlight -= 1;
  }
}

/** Matches a method and path (no query) against the route table, for the batch endpoint. */
export function matchRoute(
  routes: readonly GmailRoute[],
  method: string,
  path: string,
): { route: GmailRoute; params: Record<string, string> } | undefined {
  for (const route of routes) {
    if (route.method !== method.toUpperCase()) continue;
    const names: string[] = [];
    const pattern = route.path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
      names.push(name);
      return "([^/]+)";
    });
    const m = new RegExp(`^${pattern}$`).exec(path);
    if (m) {
      const params: Record<string, string> = {};
      try {
        names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1])));
      } catch {
        throw new BadInput("Invalid request path.", "badRequest");
      }
      return { route, params };
    }
  }
  return undefined;
}
