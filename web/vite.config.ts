/**
 * Build of the resources panel: `web/` → `web/dist`, served by server/routes/web.ts.
 * JSX goes through Vite's built-in Oxc transform with Preact's automatic runtime
 * (no @preact/preset-vite: one dependency fewer, and no HMR is needed to build).
 */
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  base: "/",
  publicDir: false,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: fileURLToPath(new URL("./dist", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  server: {
    // `npx vite --config web/vite.config.ts` for UI work against a running service on :3000.
    proxy: { "/v1": "http://127.0.0.1:3000", "/oauth2": "http://127.0.0.1:3000", "/sandbox": "http://127.0.0.1:3000" },
  },
});
