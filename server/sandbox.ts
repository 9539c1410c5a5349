/**
 * Sandbox mode (`--sandbox`, GOOGLE_SANDBOX=true): the Google emulator is
 * mounted at `${PUBLIC_URL}/sandbox/google`, a demo OAuth client is
 * registered in it, the iClient "Sandbox client" exists in the `default`
 * account, and the user demo@mailbridge.test has a realistic mailbox. Gmail push is
 * wired: the emulator's push subscription posts to the service's own `/hooks/gmail`, so a
 * Gmail-triggered flow runs within seconds of mail arriving
 * (`POST /sandbox/google/_admin/users/demo@mailbridge.test/messages`). Sign-in is Google's too:
 * the mounted emulator answers ID tokens signed with its key, and `GOOGLE_CERTS_URL` defaults to
 * its `/oauth2/v3/certs` in sandbox mode (server/config.ts), so the address comes from a verified
 * ID token as against real Google (`test/oauth/id-token-address.test.ts`).
 *
 * The emulator keeps its state in memory: after a restart the demo mailbox is
 * seeded anew and connections authorized before it must be reauthorized.
 */
import { randomBytes } from "node:crypto";
import type { FastifyInstance, InjectOptions } from "fastify";
import { emulatorPlugin, seedSandbox } from "../emulator/index.ts";
import type { Config } from "./config.ts";
import { SANDBOX_PREFIX } from "./config.ts";
import type { Db } from "../core/store/db.ts";
import type { SecretBox } from "../core/secrets.ts";
import { AccountStore } from "./accounts/account-store.ts";
import { IClientStore } from "../iclients/iclient-store.ts";
import { declareScope } from "./auth.ts";
import { hashToken, newToken } from "../core/secrets.ts";

export const SANDBOX_CLIENT_ID = "mailbridge-sandbox.apps.googleusercontent.com";
export const SANDBOX_ICLIENT_NAME = "Sandbox client";
export const SANDBOX_USER = "demo@mailbridge.test";

/**
 * Mount the emulator inside the service (call while building the app). Its Google routes are
 * public (they check Google's own credentials); its `/_admin` routes, which register clients and
 * change quota, latency and faults, need an admin account's API token.
 */
export async function mountSandbox(app: FastifyInstance): Promise<void> {
  await app.register(async (scope) => {
    declareScope(scope, (route) => (isAdminRoute(route.url) ? { adminToken: true } : { public: true }));
    await scope.register(emulatorPlugin, { prefix: SANDBOX_PREFIX });
  });
}

function isAdminRoute(url: string): boolean {
  return url === `${SANDBOX_PREFIX}/_admin` || url.startsWith(`${SANDBOX_PREFIX}/_admin/`);
}

/** Register the demo client, make sure the Sandbox iClient exists, seed the demo mailbox. */
export async function prepareSandbox(app: FastifyInstance, config: Readonly<Config>, deps: { db: Db; secrets: SecretBox }): Promise<void> {
  const { account } = await new AccountStore(deps.db).bootstrap(config.adminToken);
  const iclients = new IClientStore(deps.db, deps.secrets, { callbackUrl: config.callbackUrl });
  const existing = await deps.db.query<{ id: string }>("SELECT id FROM iclients WHERE account_id = $1 AND name = $2", [
    account.id,
    SANDBOX_ICLIENT_NAME,
  ]);
  let credentials: { clientId: string; clientSecret: string };
  if (existing[0]) {
    credentials = await iclients.credentials(account.id, existing[0].id);
  } else {
    credentials = { clientId: SANDBOX_CLIENT_ID, clientSecret: `GOCSPX-sandbox-${randomBytes(12).toString("base64url")}` };
    const clientJson = { web: { client_id: credentials.clientId, client_secret: credentials.clientSecret, redirect_uris: [config.callbackUrl] } };
    await iclients.create(account.id, { name: SANDBOX_ICLIENT_NAME, application: "gmail", clientJson }).catch((err) => {
      // Another process of the cluster created it first: use theirs.
      if ((err as { code?: string }).code !== "name_taken") throw err;
    });
    const row = await deps.db.query<{ id: string }>("SELECT id FROM iclients WHERE account_id = $1 AND name = $2", [account.id, SANDBOX_ICLIENT_NAME]);
    credentials = await iclients.credentials(account.id, row[0]!.id);
  }
  // The emulator's admin routes need an admin token: seed with a token of the default account
  // that lives only for the seeding (only its hash is ever stored).
  const seedToken = newToken("mb_seed");
  await deps.db.query("INSERT INTO api_tokens (token_hash, account_id) VALUES ($1, $2)", [hashToken(seedToken), account.id]);
  const withToken = {
    inject: (opts: InjectOptions) => app.inject({ ...opts, headers: { ...opts.headers, authorization: `Bearer ${seedToken}` } }),
  } as unknown as FastifyInstance;
  try {
    await seedSandbox(withToken, SANDBOX_PREFIX, { ...credentials, redirectUris: [config.callbackUrl], email: SANDBOX_USER });
    if (config.gmailPush.topic) {
      const pubsub = await withToken.inject({
        method: "PUT",
        url: `${SANDBOX_PREFIX}/_admin/pubsub`,
        payload: {
          topic: config.gmailPush.topic,
          pushEndpoint: `${config.publicUrl}/hooks/gmail`,
          audience: config.gmailPush.audience,
          ...(config.gmailPush.serviceAccount ? { serviceAccountEmail: config.gmailPush.serviceAccount } : {}),
        },
      });
      if (pubsub.statusCode !== 200) throw new Error(`emulator: the push subscription failed (${pubsub.statusCode}): ${pubsub.body}`);
    }
  } finally {
    await deps.db.query("DELETE FROM api_tokens WHERE token_hash = $1", [hashToken(seedToken)]);
  }
}
