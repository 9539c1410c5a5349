/**
 * The Google emulator: OAuth 2.0 and Gmail API v1 over real HTTP, faithful enough that the
 * real `google-auth-library` and `@googleapis/gmail` clients cannot tell it from Google.
 *
 * Mount it in a service with `app.register(emulatorPlugin, { prefix: "/sandbox/google" })`, or
 * run it alone with {@link startEmulator}. All state lives in memory, per instance.
 */
import Fastify, { type FastifyInstance } from "fastify";
import { adminRoutes } from "./admin-routes.ts";
import { batchRoutes } from "./batch.ts";
import { installErrorHandling, frameworkErrors } from "./error-handler.ts";
import { BadInput } from "./errors.ts";
import { parseForm } from "./form.ts";
import { registerGmail } from "./gmail-routes.ts";
import { watchRoutesPlugin } from "./gmail-watch.ts";
import { oauthRoutes } from "./oauth-routes.ts";
import { pubsubRoutes } from "./pubsub.ts";
import { EmulatorState } from "./state.ts";
import { tokenRoutes } from "./token-routes.ts";
import { UPLOAD_BODY_LIMIT } from "./uploads.ts";
import { userinfoRoutes } from "./userinfo-routes.ts";

export interface EmulatorOptions {
  /**
   * The clock: token and code expiry, quota windows, history retention and `newer_than:`.
   * @defaultValue `Date.now`
   */
  now?: () => number;
  /**
   * Fastify's logger for the standalone app ({@link buildEmulator}); ignored by the plugin,
   * which logs through its parent.
   * @defaultValue `false`
   */
  logger?: boolean;
}

/**
 * The emulator as an encapsulated Fastify plugin: its content-type parsers, error handler and
 * not-found handler stay inside it and never touch the parent app.
 */
export async function emulatorPlugin(app: FastifyInstance, opts: EmulatorOptions): Promise<void> {
  const state = new EmulatorState(opts.now ?? Date.now);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_req, body: Buffer, done) => {
    if (body.length === 0 || body.toString("utf8").trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(body.toString("utf8")));
    } catch {
      done(new BadInput("Invalid JSON payload received. Unexpected token.", "parseError"), undefined);
    }
  });
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body: string, done) => {
    done(null, parseForm(body));
  });
  // multipart/mixed (batch), multipart/related and message/rfc822 (uploads) and anything else.
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: UPLOAD_BODY_LIMIT }, (_req, body: Buffer, done) => done(null, body));

  installErrorHandling(app);

  oauthRoutes(app, state);
  tokenRoutes(app, state);
  userinfoRoutes(app, state);
  registerGmail(app, state);
  batchRoutes(app, state, app.prefix);
  adminRoutes(app, state);
  watchRoutesPlugin(app, state);
  pubsubRoutes(app, state);
}

/** A standalone emulator app at the root path. It never listens; use `inject` or {@link startEmulator}. */
export async function buildEmulator(opts: EmulatorOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, frameworkErrors });
  await app.register(emulatorPlugin, { now: opts.now });
  await app.ready();
  return app;
}

/** Starts a standalone emulator on `host:port` (port 0 picks a free one) and returns its base URL. */
export async function startEmulator(
  opts: { port?: number; host?: string } & EmulatorOptions = {},
): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const app = await buildEmulator(opts);
  const host = opts.host ?? "127.0.0.1";
  await app.listen({ port: opts.port ?? 0, host });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return { baseUrl: `http://${shownHost}:${port}`, close: () => app.close() };
}

/**
 * Registers a demo OAuth client and seeds `email` with a realistic mailbox (about 50 messages
 * with threads, labels and attachments), through the admin routes of the emulator mounted at
 * `prefix` in `app`.
 */
export async function seedSandbox(
  app: FastifyInstance,
  prefix: string,
  opts: { clientId: string; clientSecret: string; redirectUris: string[]; email: string },
): Promise<void> {
  const base = prefix.replace(/\/+$/, "");
  const client = await app.inject({
    method: "POST",
    url: `${base}/_admin/clients`,
    payload: { clientId: opts.clientId, clientSecret: opts.clientSecret, redirectUris: opts.redirectUris },
  });
  if (client.statusCode !== 201) throw new Error(`emulator: registering the demo client failed (${client.statusCode}): ${client.body}`);
  const user = await app.inject({
    method: "POST",
    url: `${base}/_admin/users`,
    payload: { email: opts.email, name: "Demo User", generate: { count: 50, attachments: true } },
  });
  if (user.statusCode !== 201) throw new Error(`emulator: seeding ${opts.email} failed (${user.statusCode}): ${user.body}`);
}
