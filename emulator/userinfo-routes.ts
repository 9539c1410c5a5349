/**
 * Userinfo: the v2 shape (`/oauth2/v2/userinfo`) and the OpenID Connect one (`/v1/userinfo`).
 */
import type { FastifyInstance } from "fastify";
import { bearer } from "./auth.ts";
import { GoogleError } from "./errors.ts";
import { numericId } from "./ids.ts";
import { grantsEmail, grantsProfile } from "./scopes.ts";
import type { EmulatorState } from "./state.ts";

function profile(state: EmulatorState, email: string) {
  const name = state.mailbox(email).name;
  const [given, ...rest] = name.split(" ");
  return {
    name,
    given_name: given,
    family_name: rest.join(" ") || undefined,
    picture: `https://lh3.googleusercontent.com/a/emulator-${numericId(email)}=s96-c`,
  };
}

export function userinfoRoutes(app: FastifyInstance, state: EmulatorState): void {
  app.get("/oauth2/v2/userinfo", async (request) => {
    const token = bearer(state, request.headers.authorization);
    const body: Record<string, unknown> = { id: numericId(token.email) };
    if (grantsEmail(token.scopes)) Object.assign(body, { email: token.email, verified_email: true });
    if (grantsProfile(token.scopes)) Object.assign(body, profile(state, token.email));
    return body;
  });

  app.get("/v1/userinfo", async (request) => {
    let email: string;
    let scopes: string[];
    try {
      ({ email, scopes } = bearer(state, request.headers.authorization));
    } catch {
      throw new GoogleError(401, { error: "invalid_request", error_description: "Invalid Credentials" });
    }
    const body: Record<string, unknown> = { sub: numericId(email) };
    if (grantsProfile(scopes)) Object.assign(body, profile(state, email));
    if (grantsEmail(scopes)) Object.assign(body, { email, email_verified: true });
    return body;
  });
}
