/**
 * `buildApp(config, deps)` assembles the Fastify app and never listens
 * (server/main.ts does). Everything stateful is passed in through `deps`.
 */
import Fastify, { type FastifyInstance } from "fastify";
import cookie from "@fastify/cookie";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { Config } from "./config.ts";
import type { Db } from "../core/store/db.ts";
import type { SecretBox } from "../core/secrets.ts";
import { AccountStore } from "./accounts/account-store.ts";
import { RedisForgetBus } from "./accounts/forget-bus.ts";
import { auth, declareScope } from "./auth.ts";
import { clientErrorHandler, frameworkErrors, installErrorHandling } from "./http-errors.ts";
import { installValidation } from "./validation.ts";
import { installMetrics } from "./metrics.ts";
import { installSecurity } from "./security.ts";
import { loggerOptions } from "./logger.ts";
import { errorSchema } from "../schemas/common.ts";
import { healthRoutes } from "./routes/health.ts";
import { sessionRoutes } from "./routes/session.ts";
import { applicationRoutes } from "./routes/applications.ts";
import { iClientRoutes } from "./routes/iclients.ts";
import { connectionRoutes } from "./routes/connections.ts";
import { IClientStore } from "../iclients/iclient-store.ts";
import { ConnectionStore } from "./connections/connection-store.ts";
import type { Redis } from "ioredis";
import { MemoryGate, RedisGate, type PoolGate } from "./pools/index.ts";
import { StateStore } from "./oauth/state-store.ts";
import { MAX_TOKEN_CACHE_MS, TokenStore } from "./oauth/token-store.ts";
import { RecentReads } from "../core/recent-reads.ts";
import { TokenManager } from "./oauth/token-manager.ts";
import { LocalRefreshLock, RedisRefreshLock, type RefreshLock } from "./oauth/refresh-lock.ts";
import { AuthorizationService } from "./oauth/authorization-service.ts";
import { GmailRunner } from "./gmail-runner.ts";
import { MemoryBudget, RedisBudget, type QuotaBudget, type QuotaClock } from "./quota/index.ts";
import { quotaMetrics } from "./quota/metrics.ts";
import { oauthRoutes } from "./oauth/routes.ts";
import { createFlows, type FlowTuning } from "./flows/index.ts";
import { flowRoutes } from "./routes/flows.ts";
import { ArchiveStore, type ArchiveFs } from "./archives/archive-store.ts";
import { archiveRoutes } from "./archives/routes.ts";
import { createTriggers, type Triggers } from "./triggers/index.ts";

export interface AppDeps {
  db: Db;
  secrets: SecretBox;
  /** Redis client in queue mode: readiness, refresh locks. Required when `config.redisUrl` is set. */
  redis?: Redis;
  /** The concurrency gate; by default a RedisGate on `config.redisUrl` in queue mode, else a MemoryGate. */
  gate?: PoolGate;
  /** Rate-limit and transient-error backoff of the Gmail choke point (tests shorten it). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Gmail quota budgets; by default a RedisBudget on `config.redisUrl` in queue mode, else a MemoryBudget. */
  budget?: QuotaBudget;
  /** The clock the choke point's backoffs sleep on (tests scale time). */
  quotaClock?: QuotaClock;
  /** Run-level retry and lease knobs of flows (tests shorten them). */
  flows?: FlowTuning;
  /** Triggers' clock and shortest interval (tests inject a clock and shorten it). */
  triggers?: { now?: () => number; minIntervalMs?: number; watchReconcileMs?: number };
  /** Override the logger (tests pass a stream to capture every line). */
  logger?: boolean | { level: string; stream: NodeJS.WritableStream };
  /** File system calls of the archive store (tests inject a full disk). */
  archiveFs?: Partial<ArchiveFs>;
  /** Wraps the per-connection refresh lock (tests observe who waits for it). */
  wrapRefreshLock?: (lock: RefreshLock) => RefreshLock;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The choke point of every Gmail request (used by flows and tests). */
    gmail: GmailRunner;
    /** Schedules and Gmail polls (tests drive the in-process ticker). */
    triggers: Triggers;
    /** Archive files and their rows (the flows' archive source and destination use it). */
    archives: ArchiveStore;
  }
}

export async function buildApp(config: Readonly<Config>, deps: AppDeps): Promise<FastifyInstance> {
  const logger =
    deps.logger === undefined
      ? loggerOptions(config.logLevel)
      : typeof deps.logger === "boolean"
        ? deps.logger && loggerOptions(config.logLevel)
        : { ...(loggerOptions(deps.logger.level) as object), stream: deps.logger.stream };
  const app = Fastify({
    logger: logger as any,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy, // TRUST_PROXY: off unless the operator names the proxies
    return503OnClosing: true,
    forceCloseConnections: true,
    // Every answer in the API's error shape: the router's own errors (a malformed %-escape, an
    // over-long id), Node's client errors, and a request without Host (server/http-errors.ts).
    frameworkErrors,
    clientErrorHandler,
    http: { requireHostHeader: false },
  });
  // Only JSON is accepted by the API (415 for anything else).
  app.removeContentTypeParser("text/plain");

  installValidation(app, [errorSchema]);
  installErrorHandling(app);
  app.addSchema(errorSchema);
  // Security headers before anything can answer (the auth hook's 401s carry them too); rate limits by route.
  await installSecurity(app, { publicUrl: config.publicUrl, redis: deps.redis, redisPrefix: config.redisPrefix });
  // Deny by default, first of all: a route needs an account unless it is declared public.
  // In a cluster, a sign-out here is heard by every process's token and session cache (Redis pub/sub).
  const redis = deps.redis;
  const accounts = new AccountStore(deps.db, {
    forgetBus: redis && ((forget) => new RedisForgetBus(redis, `${config.redisPrefix}:auth:forget`, forget, (err) => app.log.warn({ err }, "auth forget bus"))),
  });
  app.addHook("onReady", () => accounts.start());
  app.addHook("onClose", () => accounts.close());
  await app.register(cookie);
  await app.register(auth, { accounts, publicRoutes: ["/metrics"] });

  await app.register(swagger, {
    openapi: {
      info: { title: "Mailbridge API", version: "1", description: "Gmail iClients, connections, OAuth and flows." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(async (docs) => {
    declareScope(docs, () => ({ public: true }));
    await docs.register(swaggerUi, { routePrefix: "/docs" });
  });
  const metricsRegistry = installMetrics(app);
  await app.register(healthRoutes, { db: deps.db, redis: deps.redis });
  await app.register(sessionRoutes, { accounts, secureCookies: config.publicUrl.startsWith("https:") });
  await app.register((await import("./routes/web.ts")).webRoutes); // the resources panel at `/` (SPA fallback, 503 if unbuilt)
  await app.register(applicationRoutes);
  // What this process read of `connections` lately: every Gmail call reads its connection and tokens,
  // and a write through any of these three stores drops it at once (another process's within 2 s).
  const connectionReads = new RecentReads(MAX_TOKEN_CACHE_MS);
  const iclients = new IClientStore(deps.db, deps.secrets, { callbackUrl: config.callbackUrl, recent: connectionReads });
  const connections = new ConnectionStore(deps.db, { callbackUrl: config.callbackUrl, hasPlatformClient: !!config.platformClient, recent: connectionReads });
  await app.register(iClientRoutes, { iclients, usage: (id) => gmail.dailyUsage(id) }); // gmail: below, built before any request
  const archives = new ArchiveStore(deps.db, { dir: config.archiveDir, fs: deps.archiveFs });
  app.decorate("archives", archives);
  app.addHook("onReady", () => archives.init()); // creates ARCHIVE_DIR and checks the cluster shares it
  await app.register(archiveRoutes, { archives });

  const gate = deps.gate ?? (config.redisUrl ? new RedisGate({ redis: config.redisUrl, prefix: `${config.redisPrefix}:pool` }) : new MemoryGate());
  if (!deps.gate) app.addHook("onClose", () => gate.close());
  const budget = deps.budget ?? (config.redisUrl ? new RedisBudget({ redis: config.redisUrl, prefix: `${config.redisPrefix}:quota` }) : new MemoryBudget());
  if (!deps.budget) app.addHook("onClose", () => budget.close());
  const tokenStore = new TokenStore(deps.db, deps.secrets, connectionReads);
  // One lock for refreshes and revocations of a connection, so neither overtakes the other.
  const baseLock = deps.redis ? new RedisRefreshLock(deps.redis, `${config.redisPrefix}:refresh`) : new LocalRefreshLock();
  const refreshLock = deps.wrapRefreshLock ? deps.wrapRefreshLock(baseLock) : baseLock;
  const authorization = new AuthorizationService({
    connections,
    iclients,
    states: new StateStore(deps.db, deps.secrets),
    tokens: tokenStore,
    endpoints: config.google,
    callbackUrl: config.callbackUrl,
    platformClient: config.platformClient,
    issuers: config.googleIssuers,
    certsUrl: config.googleCertsUrl,
    lock: refreshLock,
  });
  const tokens = new TokenManager({
    tokens: tokenStore,
    lock: refreshLock,
    oauthFor: (accountId, connectionId) => authorization.oauthFor(accountId, connectionId),
  });
  await app.register(connectionRoutes, {
    connections,
    remove: (accountId, id) => authorization.deleteConnection(accountId, id),
  });
  const gmail = new GmailRunner({ connections, tokens, gate, budget, quota: config.gmailQuota, endpoints: config.google, log: app.log, backoff: deps.backoff, clock: deps.quotaClock, metrics: quotaMetrics(metricsRegistry), allowsBilledUsage: (id) => iclients.allowsBilledUsage(id) });
  app.decorate("gmail", gmail);
  let triggers: Triggers | undefined; // created next: the flows' hooks call into it
  const hooks = { exportSpec: (flow: any, run: any, claimed: any) => triggers!.exportSpec(flow, run, claimed), runEnded: async (runId: string) => triggers?.runEnded(runId) };
  const flows = createFlows({ db: deps.db, gmail, archives, log: app.log, redisUrl: config.redisUrl, redisPrefix: config.redisPrefix, tuning: { ...deps.flows, runConcurrency: deps.flows?.runConcurrency ?? config.runConcurrency }, hooks });
  triggers = createTriggers({ db: deps.db, flows, gmail, connections, log: app.log, redisUrl: config.redisUrl, redisPrefix: config.redisPrefix, pushTopic: config.gmailPush.topic, ...deps.triggers });
  app.decorate("triggers", triggers);
  // A source going offline, deauthorized or authorized: its mailbox's watch stops or starts now, not at the hourly reconcile.
  tokenStore.onStatusChange = (connectionId) => void triggers.connectionChanged(connectionId).catch((err) => app.log.warn({ err, connectionId }, "watches did not follow a connection's change"));
  app.addHook("preClose", () => triggers.close()); // no tick starts a run once the run queue closes
  app.addHook("preClose", () => flows.close()); // before the pool gate closes under runs in flight
  await app.register(flowRoutes, { flows, gmail, triggers });
  await app.register((await import("./routes/hooks.ts")).hookRoutes, {
    push: triggers.push,
    auth: { certsUrl: config.googleCertsUrl, issuers: config.googleIssuers, audience: config.gmailPush.audience, serviceAccount: config.gmailPush.serviceAccount },
  });
  app.addHook("onReady", () => flows.recover());
  app.addHook("onReady", () => triggers.start());
  if (config.sandbox) await (await import("./sandbox.ts")).mountSandbox(app);
  await app.register(oauthRoutes, { authorization, connections, gmail, origin: new URL(config.publicUrl).origin });
  return app;
}
