import type { FastifyInstance } from "fastify";
import { errorResponses } from "../../schemas/common.ts";
import { accountSchema, createAccountBody, createdAccountSchema, sessionBody } from "../../schemas/accounts.ts";
import { ApiError } from "../../core/errors.ts";
import { SESSION_COOKIE, requireAdmin } from "../auth.ts";
import type { AccountStore } from "../accounts/account-store.ts";

/** Sign-in for the UI (an HttpOnly session cookie), the current account, and account creation by admins. */
export async function sessionRoutes(app: FastifyInstance, deps: { accounts: AccountStore; secureCookies: boolean }) {
  app.post<{ Body: { token: string } }>(
    "/v1/session",
    {
      config: { public: true },
      schema: { tags: ["session"], body: sessionBody, response: { 200: accountSchema, ...errorResponses } },
    },
    async (request, reply) => {
      const account = await deps.accounts.byToken(request.body.token);
      if (!account) throw new ApiError("unauthorized", "That API token is not valid.");
      const { sessionId, expiresAt } = await deps.accounts.createSession(account.id);
      reply.setCookie(SESSION_COOKIE, sessionId, {
        httpOnly: true,
        sameSite: "lax",
        secure: deps.secureCookies,
        path: "/",
        expires: expiresAt,
      });
      return account;
    },
  );

  app.delete("/v1/session", { config: { public: true }, schema: { tags: ["session"] } }, async (request, reply) => {
    const session = request.cookies[SESSION_COOKIE];
    if (session) await deps.accounts.deleteSession(session);
    // The same attributes as when it was set, so the browser matches and drops it.
    reply.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: "lax", secure: deps.secureCookies, path: "/" });
    return reply.status(204).send();
  });

  app.get("/v1/me", { schema: { tags: ["session"], response: { 200: accountSchema, ...errorResponses } } }, async (request) => request.account);

  app.post<{ Body: { name: string } }>(
    "/v1/accounts",
    { schema: { tags: ["accounts"], body: createAccountBody, response: { 201: createdAccountSchema, ...errorResponses } } },
    async (request, reply) => {
      requireAdmin(request);
      const { id, name, token } = await deps.accounts.create(request.body.name);
      return reply.status(201).send({ id, name, token });
    },
  );
}
