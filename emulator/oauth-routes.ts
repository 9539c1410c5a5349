/**
 * The authorization endpoint (`/o/oauth2/v2/auth`), its consent decision and the redirect back.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import { consentPage, errorPage } from "./consent-page.ts";
import { all, asForm, first, type FormValues } from "./form.ts";
import { rememberNonce } from "./id-tokens.ts";
import { newAuthCode } from "./ids.ts";
import { isKnownScope, isSignInScope } from "./scopes.ts";
import { AUTH_CODE_TTL_MS, type AuthCode, type Client, type EmulatorState, type Grant } from "./state.ts";
import { PKCE_VALUE } from "./token-routes.ts";

type Checked = { ok: true; client: Client; redirectUri: string; scopes: string[] } | { ok: false; html: string; status: number };

/** Checks the request the way Google does before it will ever redirect back. */
function check(state: EmulatorState, p: FormValues): Checked {
  // The HTTP status is always 400; the page shows Google's own "Error 401: invalid_client" text.
  const fail = (code: string, message: string, shown = 400): Checked => ({ ok: false, status: 400, html: errorPage(code, message, shown) });
  const clientId = first(p.client_id);
  if (!clientId) return fail("invalid_request", "Missing required parameter: client_id");
  const client = state.clients.get(clientId);
  if (!client) return fail("invalid_client", "The OAuth client was not found.", 401);
  const redirectUri = first(p.redirect_uri);
  if (!redirectUri) return fail("invalid_request", "Missing required parameter: redirect_uri");
  if (!client.redirectUris.includes(redirectUri)) {
    return fail(
      "redirect_uri_mismatch",
      `You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. If you're the app developer, register the redirect URI in the Google Cloud Console. Request details: redirect_uri=${redirectUri}`,
    );
  }
  if (first(p.response_type) !== "code") return fail("unsupported_response_type", `Invalid response_type: ${first(p.response_type) ?? ""}`);
  const scopes = (first(p.scope) ?? "").split(/\s+/).filter(Boolean);
  if (scopes.length === 0) return fail("invalid_request", "Missing required parameter: scope");
  const unknown = scopes.filter((s) => !isKnownScope(s));
  if (unknown.length) return fail("invalid_scope", `Some requested scopes were invalid. {invalid=[${unknown.join(", ")}]}`);
  const method = first(p.code_challenge_method);
  if (method && method !== "S256" && method !== "plain") return fail("invalid_request", "Invalid code_challenge_method value.");
  const challenge = first(p.code_challenge);
  if (method && !challenge) return fail("invalid_request", "Missing code_challenge.");
  if (challenge !== undefined && !PKCE_VALUE.test(challenge)) return fail("invalid_request", "Invalid code_challenge: 43 to 128 characters of A-Z a-z 0-9 - . _ ~.");
  const prompt = (first(p.prompt) ?? "").split(/\s+/).filter(Boolean);
  if (prompt.includes("none") && prompt.length > 1) return fail("invalid_request", "Invalid prompt: none must be alone.");
  return { ok: true, client, redirectUri, scopes: [...new Set(scopes)] };
}

function redirectWith(reply: FastifyReply, redirectUri: string, params: Array<[string, string | undefined]>): FastifyReply {
  const url = new URL(redirectUri);
  for (const [k, v] of params) if (v !== undefined) url.searchParams.append(k, v);
  return reply.code(302).header("location", url.toString()).header("cache-control", "no-store").send();
}

function html(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type("text/html; charset=utf-8").send(body);
}

type Allowed = Extract<Checked, { ok: true }>;

/** Issues a code for `granted` under `grant` and redirects back with it, as Google's callback reads. */
function redirectWithCode(
  state: EmulatorState,
  reply: FastifyReply,
  checked: Allowed,
  form: FormValues,
  grant: Grant,
  granted: string[],
  shown: "consent" | "none",
): FastifyReply {
  const tokenScopes = first(form.include_granted_scopes) === "true" ? grant.scopes : granted;
  const prompt = (first(form.prompt) ?? "").split(/\s+/);
  const offline = first(form.access_type) === "offline";
  const code = newAuthCode();
  const issued: AuthCode = {
    grantId: grant.id,
    clientId: checked.client.clientId,
    redirectUri: checked.redirectUri,
    scopes: tokenScopes,
    codeChallenge: first(form.code_challenge),
    codeChallengeMethod: first(form.code_challenge) ? first(form.code_challenge_method) ?? "plain" : undefined,
    issueRefreshToken: offline && (!grant.refreshIssued || prompt.includes("consent")),
    expiresAt: state.now() + AUTH_CODE_TTL_MS,
    used: false,
  };
  state.codes.set(code, issued);
  rememberNonce(issued, first(form.nonce));
  return redirectWith(reply, checked.redirectUri, [
    ["state", first(form.state)],
    ["code", code],
    ["scope", tokenScopes.join(" ")],
    ["authuser", "0"],
    ["prompt", shown],
  ]);
}

/**
 * `prompt=none`: no page may be shown. The emulator has no sign-in session, so the user is the
 * `login_hint`; when that user already granted this client every scope asked for, a code comes
 * back at once, otherwise `error=interaction_required` (OpenID Connect Core §3.1.2.6).
 */
function withoutInteraction(state: EmulatorState, reply: FastifyReply, checked: Allowed, values: FormValues): FastifyReply {
  const email = (first(values.login_hint) ?? "").trim().toLowerCase();
  const grant = email ? state.liveGrantFor(checked.client.clientId, email) : undefined;
  const covered = grant !== undefined && checked.scopes.every((s) => isSignInScope(s) || grant.scopes.includes(s));
  if (!grant || !covered) return redirectWith(reply, checked.redirectUri, [["error", "interaction_required"], ["state", first(values.state)]]);
  return redirectWithCode(state, reply, checked, values, grant, checked.scopes, "none");
}

export function oauthRoutes(app: FastifyInstance, state: EmulatorState): void {
  app.get("/o/oauth2/v2/auth", async (request, reply) => {
    const search = new URLSearchParams(request.raw.url?.split("?")[1] ?? "");
    const params = [...search.entries()];
    const values = asForm(search.toString());
    const checked = check(state, values);
    if (!checked.ok) return html(reply, checked.status, checked.html);
    if ((first(values.prompt) ?? "").split(/\s+/).includes("none")) return withoutInteraction(state, reply, checked, values);
    return html(reply, 200, consentPage({ clientId: checked.client.clientId, params, scopes: checked.scopes, email: first(values.login_hint) ?? "" }));
  });

  app.post("/o/oauth2/v2/auth/decision", async (request, reply) => {
    const form = asForm(request.body);
    const checked = check(state, form);
    if (!checked.ok) return html(reply, checked.status, checked.html);
    const stateParam = first(form.state);
    if (first(form.decision) !== "allow") {
      return redirectWith(reply, checked.redirectUri, [["error", "access_denied"], ["state", stateParam]]);
    }
    const email = (first(form.email) ?? "").trim().toLowerCase();
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
      const params = Object.entries(form)
        .filter(([k]) => !["email", "granted_scope", "decision"].includes(k))
        .flatMap(([k, v]) => all(v).map((x): [string, string] => [k, x]));
      return html(reply, 400, consentPage({ clientId: checked.client.clientId, params, scopes: checked.scopes, email, error: "Enter a valid email address." }));
    }
    state.mailbox(email);
    const ticked = new Set(all(form.granted_scope));
    const granted = checked.scopes.filter((s) => isSignInScope(s) || ticked.has(s));
    const grant = state.grantFor(checked.client.clientId, email);
    grant.scopes = [...new Set([...grant.scopes, ...granted])];
    return redirectWithCode(state, reply, checked, form, grant, granted, "consent");
  });
}
