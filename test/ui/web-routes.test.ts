/** server/routes/web.ts: the panel's files, the SPA fallback, API 404s kept as JSON, and the 503 page without a build. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify from "fastify";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { webRoutes } from "../../server/routes/web.ts";

describe("web routes", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "mailbridge-web-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function appWith(root: string) {
    const app = Fastify();
    app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: { code: "route_not_found", message: `No route ${req.url}` } }));
    await app.register(webRoutes, { root });
    return app;
  }

  it("serves index.html at / and for client-side routes, assets with a long cache, and keeps service paths as JSON 404s", async () => {
    const root = path.join(dir, "dist");
    await mkdir(path.join(root, "assets"), { recursive: true });
    await writeFile(path.join(root, "index.html"), "<!doctype html><title>panel</title>");
    await writeFile(path.join(root, "assets", "app-abc123.js"), "console.log(1)");
    const app = await appWith(root);

    const index = await app.inject("/");
    expect(index.statusCode).toBe(200);
    expect(index.headers["content-type"]).toMatch(/text\/html/);
    expect(index.headers["cache-control"]).toBe("no-cache");
    expect(index.body).toContain("panel");

    const deep = await app.inject({ url: "/connections/abc?x=1", headers: { accept: "text/html,application/xhtml+xml" } });
    expect(deep.statusCode).toBe(200);
    expect(deep.body).toContain("panel");
    // An API client (no HTML in Accept) gets the JSON 404 at the same path.
    const apiClient = await app.inject({ url: "/connections/abc", headers: { accept: "application/json" } });
    expect(apiClient.statusCode).toBe(404);
    expect(apiClient.json().error.code).toBe("route_not_found");

    const asset = await app.inject("/assets/app-abc123.js");
    expect(asset.statusCode).toBe(200);
    expect(asset.headers["cache-control"]).toContain("immutable");

    for (const url of ["/assets/missing.js", "/v1/nothing", "/oauth2/nothing", "/sandbox/google/x", "/docs/x"]) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code, url).toBe("route_not_found");
    }
    const traversal = await app.inject("/../../etc/passwd");
    expect(traversal.body).not.toContain("root:");
    await app.close();
  });

  it("answers a 503 page that says how to build when web/dist is missing", async () => {
    const app = await appWith(path.join(dir, "not-built"));
    const res = await app.inject("/");
    expect(res.statusCode).toBe(503);
    expect(res.headers["content-type"]).toMatch(/text\/html/);
    expect(res.body).toContain("<code>npm run build</code>");
    expect((await app.inject("/v1/x")).statusCode).toBe(404);
    await app.close();
  });
});
