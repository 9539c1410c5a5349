/**
 * Secrets at rest: AES-256-GCM, each ciphertext tagged with the id of the key
 * that sealed it, so a new key can be introduced while old rows still open.
 * Format: `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { mkdir, open, readFile } from "node:fs/promises";
import path from "node:path";

const KEY_FILE = "secrets.key";

export class SecretBox {
  private readonly keys = new Map<string, Buffer>();
  private readonly currentId: string;

  /** @param keys the current key first, then older keys that may still open old rows. */
  constructor(keys: Buffer[]) {
    if (keys.length === 0) throw new Error("SecretBox needs at least one key");
    for (const key of keys) {
      if (key.length !== 32) throw new Error("secrets key must be 32 bytes");
      this.keys.set(keyId(key), key);
    }
    this.currentId = keyId(keys[0]!);
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.keys.get(this.currentId)!, iv);
    cipher.setAAD(Buffer.from(this.currentId));
    const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return ["v1", this.currentId, iv, cipher.getAuthTag(), ct]
      .map((p) => (typeof p === "string" ? p : p.toString("base64url")))
      .join(".");
  }

  open(sealed: string): string {
    const [version, kid, iv, tag, ct] = sealed.split(".");
    const key = kid ? this.keys.get(kid) : undefined;
    if (version !== "v1" || !key || !iv || !tag || ct === undefined) {
      throw new Error("cannot open secret: unknown format or key");
    }
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(kid!));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(ct, "base64url")), decipher.final()]).toString("utf8");
  }
}

function keyId(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 8);
}

/**
 * The configured key, or the one generated once into `dataDir/secrets.key` (mode 0600).
 */
export async function loadSecretsKey(configured: Buffer | undefined, dataDir: string): Promise<Buffer> {
  if (configured) return configured;
  const file = path.join(dataDir, KEY_FILE);
  const existing = await readFile(file, "utf8").catch((err) => (err.code === "ENOENT" ? undefined : Promise.reject(err)));
  if (existing) return Buffer.from(existing.trim(), "base64");
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  const fh = await open(file, "wx", 0o600).catch(async (err) => {
    // Another process created it first: use theirs.
    if (err.code === "EEXIST") return undefined;
    throw err;
  });
  if (!fh) return Buffer.from((await readFile(file, "utf8")).trim(), "base64");
  await fh.writeFile(key.toString("base64") + "\n");
  await fh.close();
  return key;
}

/** SHA-256 of a token, as stored for API tokens and sessions. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** A random, URL-safe token with a readable prefix. */
export function newToken(prefix: string, bytes = 24): string {
  return `${prefix}_${randomBytes(bytes).toString("base64url")}`;
}

/** A random resource id such as `con_3k9...`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(10).toString("hex")}`;
}
