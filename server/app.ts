/**
 * `buildApp(config, deps)` assembles the Fastify app and never listens
 * (server/main.ts does). Everything stateful is passed in through `deps`.
 */
import Fastify, { type FastifyInstance } from "fastify";
import cookie from "@fastify/cookie";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { Config } from "./config.ts";
import type { Db } from "./store/db.ts";
import type { SecretBox } from "./secrets.ts";
import { AccountStore } from "./accounts/account-store.ts";
import { auth } from "./auth.ts";
import { installErrorHandling } from "./http-errors.ts";
import { installValidation } from "./validation.ts";
import { installMetrics } from "./metrics.ts";
import { loggerOptions } from "./logger.ts";
import { errorSchema } from "../schemas/common.ts";
import { healthRoutes } from "./routes/health.ts";
import { sessionRoutes } from "./routes/session.ts";
import { applicationRoutes } from "./routes/applications.ts";
import { iClientRoutes } from "./routes/iclients.ts";
import { connectionRoutes } from "./routes/connections.ts";
import { IClientStore } from "../iclients/iclient-store.ts";
import { ConnectionStore } from "./connections/connection-store.ts";

export interface AppDeps {
  db: Db;
  secrets: SecretBox;
  /** Redis client in queue mode (used by readiness and, later, the pools). */
  redis?: { ping(): Promise<string> };
  /** Override the logger (tests pass a stream to capture every line). */
  logger?: boolean | { level: string; stream: NodeJS.WritableStream };
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
    trustProxy: false,
    return503OnClosing: true,
    forceCloseConnections: true,
  });
  // Only JSON is accepted by the API (415 for anything else).
  app.removeContentTypeParser("text/plain");

  installValidation(app, [errorSchema]);
  installErrorHandling(app);
  app.addSchema(errorSchema);

  await app.register(swagger, {
    openapi: {
      info: { title: "Mailbridge API", version: "1", description: "Gmail iClients, connections, OAuth and flows." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  await app.register(cookie);
  installMetrics(app);

  const accounts = new AccountStore(deps.db);
  await app.register(auth, { accounts });
  await app.register(healthRoutes, { db: deps.db, redis: deps.redis });
  await app.register(sessionRoutes, { accounts, secureCookies: config.publicUrl.startsWith("https:") });
  await app.register((await import("./routes/web.ts")).webRoutes); // the resources panel at `/` (SPA fallback, 503 if unbuilt)
  await app.register(applicationRoutes);
  await app.register(iClientRoutes, { iclients: new IClientStore(deps.db, deps.secrets, { callbackUrl: config.callbackUrl }) });
  await app.register(connectionRoutes, {
    connections: new ConnectionStore(deps.db, { callbackUrl: config.callbackUrl, hasPlatformClient: !!config.platformClient }),
  });
  return app;
}
