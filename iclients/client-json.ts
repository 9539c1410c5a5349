/**
 * Parse the client JSON that Google Cloud Console downloads for an OAuth
 * client: `{"web": {...}}` or `{"installed": {...}}`, each with `client_id`,
 * `client_secret` and `redirect_uris`. Error messages never quote the input,
 * since it holds the secret.
 */

export interface ParsedClientJson {
  kind: "web" | "installed";
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

/** The client JSON could not be used; the message says why (without quoting it). */
export class ClientJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClientJsonError";
  }
}

/** Printable ASCII, as Google's client ids are. */
export const CLIENT_ID_PATTERN = /^[\x21-\x7e]{1,300}$/;
const REDIRECT_URI_PATTERN = /^[\x21-\x7e]{1,2000}$/;

/** Accepts the parsed object, or the file's text as a string. */
export function parseClientJson(input: unknown): ParsedClientJson {
  let doc = input;
  if (typeof input === "string") {
    try {
      doc = JSON.parse(input);
    } catch {
      // JSON.parse's message quotes the text, which holds the secret: never pass it on.
      throw new ClientJsonError("clientJson is not valid JSON.");
    }
  }
  if (!isObject(doc)) throw new ClientJsonError('clientJson must be an object with a "web" or "installed" key.');
  const kinds = (["web", "installed"] as const).filter((k) => k in doc);
  if (kinds.length !== 1) {
    throw new ClientJsonError('clientJson must have exactly one of the keys "web" or "installed", as Google\'s console downloads it.');
  }
  const kind = kinds[0]!;
  const client = doc[kind];
  if (!isObject(client)) throw new ClientJsonError(`clientJson.${kind} must be an object.`);
  const clientId = client.client_id;
  const clientSecret = client.client_secret;
  if (typeof clientId !== "string" || !CLIENT_ID_PATTERN.test(clientId)) {
    throw new ClientJsonError(`clientJson.${kind}.client_id is missing or not a valid client id.`);
  }
  if (typeof clientSecret !== "string" || clientSecret.length === 0 || clientSecret.length > 500) {
    throw new ClientJsonError(`clientJson.${kind}.client_secret is missing or not a string.`);
  }
  const uris = client.redirect_uris ?? [];
  if (!Array.isArray(uris) || uris.length > 100 || uris.some((u) => typeof u !== "string" || !REDIRECT_URI_PATTERN.test(u))) {
    throw new ClientJsonError(`clientJson.${kind}.redirect_uris must be an array of URLs.`);
  }
  return { kind, clientId, clientSecret, redirectUris: uris as string[] };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
