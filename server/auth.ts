/**
 * Every `/v1` route needs `Authorization: Bearer <token>` or the UI's session
 * cookie. The resolved account is on `request.account`.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { ApiError } from "./errors.ts";
import type { Account, AccountStore } from "./accounts/account-store.ts";

export const SESSION_COOKIE = "mb_session";

declare module "fastify" {
  interface FastifyRequest {
    account: Account;
  }
  interface FastifyContextConfig {
    /** Routes under /v1 that do not need an account (the sign-in itself). */
    public?: boolean;
  }
}

async function authPlugin(app: FastifyInstance, opts: { accounts: AccountStore }) {
  app.decorateRequest("account", null as unknown as Account);
  app.addHook("onRequest", async (request) => {
    if (!request.url.startsWith("/v1/") && request.url !== "/v1") return;
    if (request.routeOptions.config?.public) return;
    const account = await resolveAccount(request, opts.accounts);
    if (!account) throw new ApiError("unauthorized");
    request.account = account;
  });
}

async function resolveAccount(request: FastifyRequest, accounts: AccountStore): Promise<Account | undefined> {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    return match ? accounts.byToken(match[1]!) : undefined;
  }
  const session = request.cookies?.[SESSION_COOKIE];
  return session ? accounts.bySession(session) : undefined;
}

export const auth = fp(authPlugin, { name: "mailbridge-auth" });

/** Only admin tokens may do this. */
export function requireAdmin(request: FastifyRequest): void {
  if (!request.account?.isAdmin) throw new ApiError("forbidden", "Only an admin token may do that.");
}
