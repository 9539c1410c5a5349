/**
 * Serves the resources panel (`web/dist`, built by `npm run build:web`) at `/`.
 *
 * Files are looked up at request time, so a build made while the service runs
 * is picked up. GETs for paths that are not files get `index.html` (the SPA
 * fallback), except under the API and service prefixes, which keep their JSON
 * 404. A missing build answers a 503 page that says how to build it, styled
 * by a stylesheet of its own (the service's policy admits no inline style).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fastifyStatic from "@fastify/static";
import { stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Where `vite build --config web/vite.config.ts` writes the panel. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL("../../web/dist", import.meta.url));

/** Paths that belong to the service, never to the panel. */
const SERVICE_PREFIXES = ["/v1", "/docs", "/oauth2", "/sandbox", "/metrics", "/healthz", "/readyz", "/admin"];

export interface WebRoutesOptions {
  /** Directory of the built panel. @defaultValue {@link DEFAULT_WEB_ROOT} */
  root?: string;
}

/** The stylesheet of the page a missing build answers: from 'self', as the Content-Security-Policy wants. */
export const MISSING_BUILD_STYLESHEET = "/_mailbridge/not-built.css";

const MISSING_BUILD_CSS = `body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
code{background:#f1f3f4;padding:.1rem .3rem;border-radius:4px}
`;

const MISSING_BUILD_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mailbridge: the web panel is not built</title>
<link rel="stylesheet" href="${MISSING_BUILD_STYLESHEET}">
</head><body>
<h1>The resources panel is not built</h1>
<p>The service is running and its API answers under <code>/v1</code> (see <a href="/docs">/docs</a>), but the web panel has not been built.</p>
<p>Run <code>npm run build</code> (it builds the panel and the service; <code>npm ci</code> runs it too), then reload this page.</p>
</body></html>`;

function isServicePath(urlPath: string): boolean {
  return SERVICE_PREFIXES.some((p) => urlPath === p || urlPath.startsWith(`${p}/`) || urlPath.startsWith(`${p}?`));
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

export async function webRoutes(app: FastifyInstance, opts: WebRoutesOptions = {}) {
  const root = path.resolve(opts.root ?? DEFAULT_WEB_ROOT);
  // serve: false: only `reply.sendFile`; the route below decides what each path gets.
  await app.register(fastifyStatic, { root, serve: false, index: false, wildcard: false });

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const urlPath = decodeURIComponentSafe(request.url.split("?")[0] ?? "/");
    if (urlPath === null || isServicePath(urlPath)) return reply.callNotFound();

    const relative = path.posix.normalize(urlPath).replace(/^\/+/, "");
    const file = path.join(root, relative);
    if (relative && !relative.startsWith("..") && file.startsWith(root + path.sep) && (await isFile(file))) {
      // Vite names assets by content hash, so they never change under one name.
      const immutable = relative.startsWith("assets/");
      return reply.sendFile(relative, { maxAge: immutable ? "365d" : 0, immutable });
    }
    // A missing asset is a 404, not the app (a broken <script> must fail loudly).
    if (path.posix.extname(relative) && !relative.endsWith(".html")) return reply.callNotFound();
    // Only a browser navigating (it asks for HTML) gets the app; API clients get the JSON 404.
    if (relative && !String(request.headers.accept ?? "").includes("text/html")) return reply.callNotFound();

    if (!(await isFile(path.join(root, "index.html")))) {
      return reply.status(503).header("cache-control", "no-store").type("text/html; charset=utf-8").send(MISSING_BUILD_PAGE);
    }
    return reply.header("cache-control", "no-cache").sendFile("index.html", { cacheControl: false });
  };

  // The panel signs in through the API itself: its pages and assets are public.
  app.get("/", { config: { public: true }, schema: { hide: true } }, handler);
  app.get("/*", { config: { public: true }, schema: { hide: true } }, handler);
  app.get(MISSING_BUILD_STYLESHEET, { config: { public: true }, schema: { hide: true } }, async (_request, reply) =>
    reply.header("cache-control", "no-cache").type("text/css; charset=utf-8").send(MISSING_BUILD_CSS),
  );
}

function decodeURIComponentSafe(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}
