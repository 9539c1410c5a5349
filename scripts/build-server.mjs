// `npm run build:server [-- OUT_DIR]`: compile the service, the account CLI and
// the emulator to OUT_DIR (default dist/) with tsconfig.build.json, then copy
// what they read at run time beside the compiled files, so that every path
// resolved from `import.meta.url` in the source resolves the same way in OUT_DIR:
// the non-TypeScript files of each compiled folder (the SQL migrations), and the
// built web panel (web/dist -> OUT_DIR/web/dist; `npm run build:web` first).
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = path.resolve(root, process.argv[2] ?? "dist");
const sourceOnly = /\.(?:[cm]?tsx?)$/;

rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const compiled = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json"), "--outDir", out], { stdio: "inherit" });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

// Every top-level folder tsc wrote is a source folder: mirror its other files.
for (const folder of readdirSync(out)) {
  const source = path.join(root, folder);
  if (!existsSync(source) || !statSync(source).isDirectory()) continue;
  cpSync(source, path.join(out, folder), {
    recursive: true,
    filter: (file) => statSync(file).isDirectory() || !sourceOnly.test(file),
  });
}

const web = path.join(root, "web/dist");
if (!existsSync(path.join(web, "index.html"))) {
  console.error(`build:server: ${path.relative(root, web)} is missing; run \`npm run build:web\` first (\`npm run build\` does both)`);
  process.exit(1);
}
cpSync(web, path.join(out, "web/dist"), { recursive: true });
