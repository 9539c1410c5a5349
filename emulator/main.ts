/**
 * `npm run emulator -- --port N [--host H] [--seed email:count] [--client id:secret:redirectUri]`
 * starts the emulator alone and prints its base URL.
 */
import { parseArgs } from "node:util";
import { startEmulator } from "./index.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    seed: { type: "string", multiple: true },
    client: { type: "string", multiple: true },
    log: { type: "boolean", default: false },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be 0..65535, got ${values.port}`);
  process.exit(2);
}

const emulator = await startEmulator({ port, host: values.host, logger: values.log });

async function admin(path: string, body: unknown): Promise<void> {
  const res = await fetch(`${emulator.baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

for (const spec of values.client ?? []) {
  const [clientId, clientSecret, ...uri] = spec.split(":");
  await admin("/_admin/clients", { clientId, clientSecret, redirectUris: uri.length ? [uri.join(":")] : [] });
}
for (const spec of values.seed ?? []) {
  const [email, count = "50"] = spec.split(":");
  await admin("/_admin/users", { email, generate: { count: Number(count), attachments: true } });
}

console.log(emulator.baseUrl);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void emulator.close().then(() => process.exit(0));
  });
}
