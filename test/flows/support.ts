/**
 * The flows suites' setup: the real app and the Google emulator over HTTP, an
 * iClient, mailboxes and authorized connections, and helpers to run a flow to
 * its end and read a mailbox through the emulator's admin API.
 */
import { expect } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { authorizeConnection, startGoogle, type TestGoogle } from "../support/google.ts";
import type { Backend } from "../support/db.ts";
import type { AppDeps } from "../../server/app.ts";

export const PUBLIC_URL = "http://mailbridge.test";
export const MAIL = "https://mail.google.com/";
export const READONLY = "https://www.googleapis.com/auth/gmail.readonly";

export interface FlowWorld {
  google: TestGoogle;
  t: TestApp;
  a: ReturnType<typeof api>;
  iClientId: string;
  clientId: string;
  /** A new emulator user (optionally with generated mail) and an authorized connection to it. */
  mailbox(opts?: { generate?: number; attachments?: boolean; scopes?: string[]; name?: string; messages?: Array<{ raw: string; labelIds?: string[] }> }): Promise<{ email: string; connectionId: string }>;
  /** Create a flow and return its id (expects 201). */
  flow(body: Record<string, unknown>): Promise<string>;
  /** Start a run and wait until it ends; returns the run. */
  run(flowId: string): Promise<any>;
  waitRun(runId: string): Promise<any>;
  /** The emulator's view of a mailbox. */
  user(email: string): Promise<{ messages: Array<{ id: string; threadId: string; labelIds: string[]; from: string; to: string; subject: string }>; drafts: unknown[]; labels: Array<{ id: string; name: string }>; historyId: string }>;
  /** The account id of the admin token's account (for direct Gmail calls through the choke point). */
  accountId(): Promise<string>;
  close(): Promise<void>;
}

let seq = 0;

export async function flowWorld(opts: { backend?: Backend; env?: Record<string, string>; deps?: Partial<AppDeps> } = {}): Promise<FlowWorld> {
  const google = await startGoogle();
  const t = await startTestApp({ backend: opts.backend, env: { PUBLIC_URL, ...google.env, ...opts.env }, deps: { backoff: { baseMs: 20, maxMs: 200 }, ...opts.deps } });
  const client = await google.newClient([`${PUBLIC_URL}/oauth2/callback`]);
  const a = api(t.app, t.adminToken);
  const ic = (await a.post("/v1/iclients", { name: "flows ic", application: "gmail", ...client })).json();
  const waitRun = async (runId: string) => {
    for (;;) {
      const run = (await a.get(`/v1/runs/${runId}`)).json();
      if (!["queued", "running"].includes(run.status)) return run;
      await new Promise((r) => setTimeout(r, 15));
    }
  };
  return {
    google,
    t,
    a,
    iClientId: ic.id,
    clientId: client.clientId,
    async mailbox(o = {}) {
      const email = `u${++seq}-${Math.random().toString(36).slice(2, 8)}@example.com`;
      await google.admin("POST", "/users", {
        email,
        name: "Flow User",
        ...(o.messages ? { messages: o.messages } : {}),
        ...(o.generate ? { generate: { count: o.generate, attachments: o.attachments ?? false } } : {}),
      });
      const res = await a.post("/v1/connections", { name: o.name ?? `con ${email}`, application: "gmail", scopes: o.scopes ?? [MAIL], iClientId: ic.id });
      expect(res.statusCode).toBe(201);
      const connectionId = res.json().id;
      expect((await authorizeConnection(t.app, t.adminToken, connectionId, { email })).statusCode).toBe(200);
      return { email, connectionId };
    },
    async flow(body) {
      const res = await a.post("/v1/flows", { name: `flow ${++seq}`, ...body });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().id;
    },
    async run(flowId) {
      const res = await a.post(`/v1/flows/${flowId}/run`);
      expect(res.statusCode, res.body).toBe(202);
      return waitRun(res.json().runId);
    },
    waitRun,
    user: (email) => google.admin("GET", `/users/${encodeURIComponent(email)}`),
    async accountId() {
      const [row] = await t.store.db.query<{ id: string }>("SELECT id FROM accounts WHERE name = 'default'");
      return row!.id;
    },
    async close() {
      await t.close();
      await google.close();
    },
  };
}

/** An RFC 5322 message as the emulator's admin API takes it (text with line breaks). */
export function rawMessage(o: { from?: string; to: string; subject: string; text?: string; messageId?: string; date?: Date }): string {
  return [
    `From: ${o.from ?? "Sender <sender@example.org>"}`,
    `To: ${o.to}`,
    `Subject: ${o.subject}`,
    `Date: ${(o.date ?? new Date()).toUTCString()}`,
    `Message-ID: ${o.messageId ?? `<${Math.random().toString(36).slice(2)}@example.org>`}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    o.text ?? `Body of ${o.subject}`,
    "",
  ].join("\r\n");
}
