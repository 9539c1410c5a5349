/**
 * Identifier shapes that look like Google's.
 */
import { randomBytes } from "node:crypto";

function random(bytes: number): string {
  return randomBytes(bytes).toString("base64url");
}

export const newAuthCode = (): string => `4/0A${random(48)}`;
export const newAccessToken = (): string => `ya29.a0${random(96)}`;
export const newRefreshToken = (): string => `1//0${random(72)}`;

/** Gmail message ids are 16 hex digits; a per-mailbox sequence keeps them unique and ordered. */
export function gmailId(seq: number): string {
  return (0x18f0000000000000n + BigInt(seq)).toString(16);
}

/** A numeric id for users (the userinfo `id`/`sub`). */
export function numericId(text: string): string {
  let h = 0n;
  for (const c of Buffer.from(text)) h = (h * 131n + BigInt(c)) % 10n ** 20n;
  return (10n ** 20n + h).toString();
}
