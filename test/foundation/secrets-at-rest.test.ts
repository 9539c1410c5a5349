/**
 * A secret written through the API must not be found in plaintext anywhere in
 * the database: not in any row, and (for the embedded database) not in any
 * file of DATA_DIR.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { backends } from "../support/db.ts";
import { SecretBox } from "../../core/secrets.ts";
import { randomBytes } from "node:crypto";

async function* files(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else if (entry.isFile()) yield full;
  }
}

describe.each(backends)("secrets at rest on $name", (backend) => {
  let t: TestApp;
  const secret = `GOCSPX-${randomBytes(18).toString("base64url")}`;
  beforeAll(async () => {
    t = await startTestApp({ backend });
  });
  afterAll(() => t.close());

  it("stores the client secret sealed: no row and no file holds the plaintext", async () => {
    const res = await api(t.app, t.adminToken).post("/v1/iclients", {
      name: "Secret keeper",
      application: "gmail",
      clientId: "123.apps.googleusercontent.com",
      clientSecret: secret,
    });
    expect(res.statusCode).toBe(201);
    expect(res.body).not.toContain(secret);
    expect(res.json().clientSecretHint).toBe(`…${secret.slice(-4)}`);

    const tables = await t.store.db.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    );
    let dump = "";
    for (const { table_name } of tables) dump += JSON.stringify(await t.store.db.query(`SELECT * FROM "${table_name}"`));
    expect(dump).toContain("Secret keeper");
    expect(dump).not.toContain(secret);
    // The sealed value opens with the app's key, and only with it.
    const sealed = (await t.store.db.query("SELECT client_secret_sealed FROM iclients"))[0]!.client_secret_sealed;
    expect(t.secrets.open(sealed)).toBe(secret);
    expect(() => new SecretBox([randomBytes(32)]).open(sealed)).toThrow();

    if (backend.name === "pglite") {
      await t.store.db.query("CHECKPOINT");
      let scanned = 0;
      for await (const file of files(t.store.dataDir)) {
        const bytes = await readFile(file);
        scanned += bytes.length;
        expect(bytes.includes(Buffer.from(secret)), file).toBe(false);
      }
      expect(scanned).toBeGreaterThan(1_000_000);
    }
    expect(t.logs.join("")).not.toContain(secret);
  });
});

describe("SecretBox", () => {
  it("opens what older keys sealed after a rotation, and refuses tampering", () => {
    const oldKey = randomBytes(32);
    const sealedOld = new SecretBox([oldKey]).seal("hello");
    const rotated = new SecretBox([randomBytes(32), oldKey]);
    expect(rotated.open(sealedOld)).toBe("hello");
    const sealedNew = rotated.seal("world");
    expect(sealedNew.split(".")[1]).not.toBe(sealedOld.split(".")[1]);
    expect(rotated.open(sealedNew)).toBe("world");
    const parts = sealedNew.split(".");
    parts[4] = Buffer.from("tampered").toString("base64url");
    expect(() => rotated.open(parts.join("."))).toThrow();
  });
});
