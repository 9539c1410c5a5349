import type { FastifyInstance } from "fastify";
import type { Db } from "../../core/store/db.ts";

export interface HealthDeps {
  db: Db;
  redis?: { ping(): Promise<string> };
}

/** `/healthz`: the process serves. `/readyz`: the database (and Redis when configured) answer. */
export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  app.get("/healthz", { config: { public: true }, schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { config: { public: true }, schema: { hide: true } }, async (request, reply) => {
    const checks: Record<string, "ok" | "failed"> = {};
    checks.database = await deps.db.query("SELECT 1").then(() => "ok" as const, () => "failed" as const);
    if (deps.redis) checks.redis = await deps.redis.ping().then(() => "ok" as const, () => "failed" as const);
    const ready = Object.values(checks).every((c) => c === "ok");
    if (!ready) request.log.warn({ checks }, "not ready");
    return reply.status(ready ? 200 : 503).send({ status: ready ? "ready" : "not_ready", checks });
  });
}
