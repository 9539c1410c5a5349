/**
 * Deny by default: every route needs an account (`Authorization: Bearer
 * <token>` or the UI's session cookie) unless the route itself says otherwise.
 *
 * The decision is a property of the route the router matched (its `config`,
 * set on the route or by the plugin scope it was registered in), never of how
 * the request spelled its URL: `/%761/me`, `GET http://x/v1/me` and `/v1/me`
 * reach the same route and get the same answer. The resolved account is on
 * `request.account`.
 */
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import fp from "fastify-plugin";
import { ApiError } from "../core/errors.ts";
import type { Account, AccountStore } from "./accounts/account-store.ts";

export const SESSION_COOKIE = "mb_session";

declare module "fastify" {
  interface FastifyRequest {
    account: Account;
  }
  interface FastifyInstance {
    /** Every route registered after the auth plugin, with who may call it (the route-walk test reads it). */
    routeAccess(): RouteAccess[];
  }
  interface FastifyContextConfig {
    /** The route needs no account: health, docs, the panel, the sign-in, the OAuth callback. */
    public?: boolean;
    /** The route needs an admin account's API token in `Authorization` (a session cookie does not do). */
    adminToken?: boolean;
  }
}

export interface AuthOptions {
  accounts: AccountStore;
  /**
   * Route paths (as registered, e.g. `/metrics`) of plugins that take no route config, declared
   * public by name. Matched against the route's registered path, never the request's URL.
   * @defaultValue `[]`
   */
  publicRoutes?: string[];
}

/** Who may call a route: anyone, any account, or an admin account's API token. */
export type Access = "public" | "account" | "admin-token";

export interface RouteAccess {
  method: string;
  /** The path as registered, e.g. `/v1/connections/:id`. */
  url: string;
  access: Access;
}

async function authPlugin(app: FastifyInstance, opts: AuthOptions) {
  const publicRoutes = new Set(opts.publicRoutes ?? []);
  const accessOf = (config: FastifyContextConfig | undefined, url: string | undefined): Access =>
    config?.adminToken ? "admin-token" : config?.public || publicRoutes.has(url ?? "") ? "public" : "account";
  // Every route registered after this plugin (register it first), read once all scopes have set their config.
  const routes: RouteOptions[] = [];
  app.addHook("onRoute", (route) => void routes.push(route));
  app.decorate("routeAccess", () =>
    routes.flatMap((r) => [r.method].flat().map((method) => ({ method, url: r.url, access: accessOf(r.config, r.url) }))),
  );
  app.decorateRequest("account", null as unknown as Account);
  app.addHook("onRequest", async (request, reply) => {
    // No route matched: the not-found handler answers 404/405 and reads nothing.
    if (request.is404) return;
    const access = accessOf(request.routeOptions.config, request.routeOptions.url);
    if (access === "admin-token") return requireAdminToken(request, reply, opts.accounts);
    if (access === "public") return;
    const account = await resolveAccount(request, opts.accounts);
    if (!account) return deny(reply, new ApiError("unauthorized"));
    request.account = account;
  });
}

/**
 * Answer here rather than throw: a route of another plugin's scope (the mounted emulator) has
 * its own error handler, which knows nothing of the API's errors.
 */
function deny(reply: FastifyReply, err: ApiError): FastifyReply {
  return reply.status(err.status).header("cache-control", "no-store").send(err.toJSON());
}

async function requireAdminToken(request: FastifyRequest, reply: FastifyReply, accounts: AccountStore) {
  const token = bearerToken(request);
  const account = token ? await accounts.byToken(token) : undefined;
  if (!account) return deny(reply, new ApiError("unauthorized", "An admin API token is required."));
  if (!account.isAdmin) return deny(reply, new ApiError("forbidden", "Only an admin token may do that."));
  request.account = account;
}

function bearerToken(request: FastifyRequest): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(request.headers.authorization ?? "");
  return match?.[1];
}

async function resolveAccount(request: FastifyRequest, accounts: AccountStore): Promise<Account | undefined> {
  if (request.headers.authorization !== undefined) {
    const token = bearerToken(request);
    return token ? accounts.byToken(token) : undefined;
  }
  const session = request.cookies?.[SESSION_COOKIE];
  return session ? accounts.bySession(session) : undefined;
}

export const auth = fp(authPlugin, { name: "mailbridge-auth", dependencies: ["@fastify/cookie"] });

/**
 * Declare every route registered from now on in `scope` (and in the plugins it registers) with
 * `config` merged in: `{ public: true }` for a scope that needs no account.
 */
export function declareScope(scope: FastifyInstance, config: (route: RouteOptions) => { public?: boolean; adminToken?: boolean }): void {
  scope.addHook("onRoute", (route) => {
    route.config = { ...route.config, ...config(route) };
  });
}

/** Only admin tokens may do this. */
export function requireAdmin(request: FastifyRequest): void {
  if (!request.account?.isAdmin) throw new ApiError("forbidden", "Only an admin token may do that.");
}
