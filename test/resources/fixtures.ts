/** Shared helpers of the resources suites: bodies, and state only the OAuth code would set. */
import type { TestApp } from "../support/app.ts";
import type { Backend } from "../support/db.ts";

export const G = "https://www.googleapis.com/auth/";
export const EMAIL = `${G}userinfo.email`;
export const READONLY = `${G}gmail.readonly`;
export const SEND = `${G}gmail.send`;
export const SECRET = "GOCSPX-TopSecretValue-1234WXYZ";

export function iClientBody(name: string, extra: Record<string, unknown> = {}) {
  return { name, application: "gmail", clientId: `${name}.apps.googleusercontent.com`, clientSecret: SECRET, ...extra };
}

export function clientJson(kind: "web" | "installed", redirectUris: string[], secret = SECRET) {
  return { [kind]: { client_id: "1234-abc.apps.googleusercontent.com", project_id: "p", client_secret: secret, redirect_uris: redirectUris } };
}

export function connectionBody(name: string, iClientId: string, extra: Record<string, unknown> = {}) {
  return { name, application: "gmail", scopes: [READONLY], iClientId, ...extra };
}

/** What a successful authorization leaves behind (the OAuth code writes this). */
export async function markOnline(t: TestApp, id: string, granted: string[] = [READONLY, EMAIL]): Promise<void> {
  await t.store.db.query(
    `UPDATE connections SET status = 'online', email = 'user@example.com', granted_scopes = $2::jsonb,
            missing_scopes = '[]'::jsonb, authorized_at = now(), token_client_id = 'x' WHERE id = $1`,
    [id, JSON.stringify(granted)],
  );
}

/** A flow that uses `connectionIds` (no flows API exists yet). */
export async function insertFlow(t: TestApp, accountToken: string, name: string, connectionIds: string[]): Promise<string> {
  const me = await t.app.inject({ url: "/v1/me", headers: { authorization: `Bearer ${accountToken}` } });
  const id = `flw_${Math.random().toString(16).slice(2)}`;
  await t.store.db.query("INSERT INTO flows (id, account_id, name) VALUES ($1, $2, $3)", [id, me.json().id, name]);
  for (const c of connectionIds) await t.store.db.query("INSERT INTO flow_connections (flow_id, connection_id) VALUES ($1, $2)", [id, c]);
  return id;
}

/** A backend that hands out an already open store, so a second app can share it. */
export function sharedStore(t: TestApp): Backend {
  return { name: t.store.databaseUrl ? "postgres" : "pglite", open: async () => ({ ...t.store, close: async () => {} }) };
}

/** Every row of the resource tables, to compare before and after a refused request. */
export async function snapshot(t: TestApp): Promise<string> {
  const tables = ["iclients", "connections", "flows", "flow_connections"];
  const parts = [];
  for (const table of tables) parts.push(await t.store.db.query(`SELECT * FROM ${table} ORDER BY 1, 2`));
  return JSON.stringify(parts);
}
