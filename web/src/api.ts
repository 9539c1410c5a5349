/**
 * The panel's only way to the service: JSON over HTTP with the session cookie
 * (SPEC §2). Errors come back as {@link ApiError} carrying the API's code,
 * message and per-field details.
 */
import type { Archive } from "../../schemas/archives.ts";

export interface Scope {
  scope: string;
  label: string;
  description: string;
  sensitivity: "non-sensitive" | "sensitive" | "restricted";
}

export interface Application {
  id: string;
  name: string;
  scopes: Scope[];
  defaultScopes: string[];
  supports?: { source: boolean; destination: boolean; lookup: boolean };
}

export interface IClient {
  id: string;
  name: string;
  application: string;
  clientId: string;
  clientSecretHint?: string;
  callbackUrlRegistered: boolean | null;
  usedBy: Array<{ id: string; name: string }>;
  /** Gmail calls may go on past the daily billing threshold (charged usage). */
  allowBilledUsage?: boolean;
  /** Gmail quota units spent today (UTC) against the daily units; warning from 90 %. */
  usage?: { today: number; dailyLimit: number; warning: boolean };
  createdAt?: string;
  updatedAt?: string;
}

export interface Connection {
  id: string;
  name: string;
  application: string;
  scopes: string[];
  iClientId: string | null;
  callbackUrl: string;
  borrowConcurrencyFrom: string | null;
  concurrencyLevel: number | null;
  effectiveConcurrency?: number;
  status: "unauthorized" | "online" | "offline";
  offlineReason?: { code: string; message: string; at?: string } | null;
  email?: string | null;
  grantedScopes?: string[] | null;
  missingScopes?: string[] | null;
  authorizedAt?: string | null;
  /** A deauthorization Google did not confirm: the grant may still be alive. */
  revocation?: { status: "failed"; at: string; error: { code: string; message: string } } | null;
}

/** What a Gmail source exports (SPEC §2 "Flows"). */
export interface ExportConfig {
  query?: string;
  labelIds?: string[];
  format?: "full" | "metadata" | "minimal" | "raw";
  attachments?: "none" | "metadata" | "content";
  maxMessages?: number;
  incremental?: boolean;
}

export type ImportAction = "send" | "reply" | "draft" | "insert" | "import" | "addLabels" | "removeLabels" | "trash";

/** What a Gmail destination does with each exported message. */
export interface ImportConfig {
  action: ImportAction;
  labelIds?: string[];
}

/** Templates over `{{from}} {{to}} {{subject}} {{snippet}} {{date}} {{text}}` (send, reply, draft). */
export interface Mapping {
  to?: string;
  cc?: string;
  subject?: string;
  text?: string;
}

/** What starts a flow's runs (SPEC §2 "Triggers"). */
export type Trigger =
  | { type: "manual" }
  | { type: "schedule"; every: string }
  | { type: "schedule"; cron: string; timezone?: string }
  | { type: "gmail"; labelIds?: string[]; query?: string; pollEvery?: string; backfill?: string };

/** What started a run. */
export type RunTrigger = "manual" | "schedule" | "push" | "poll";

/** The application that needs no connection: an mbox archive (SPEC §2 "Archives"). */
export const ARCHIVE = "archive";

/** A Google Mail source, or (`application: "archive"`) an uploaded archive to restore. */
export type FlowSourceInput = { application?: "gmail"; connectionId: string; export: ExportConfig } | { application: "archive"; archiveId: string };
/** A Google Mail destination, or (`application: "archive"`) the run's archive. */
export type FlowDestinationInput = { application?: "gmail"; connectionId: string; import: ImportConfig; mapping?: Mapping } | { application: "archive" };

export interface FlowInput {
  name: string;
  source: FlowSourceInput;
  destinations: FlowDestinationInput[];
  trigger?: Trigger;
  enabled?: boolean;
}

/** An mbox archive: uploaded, or written by a run's archive destination (its shape is the API's schema). */
export type { Archive };

export interface Flow extends FlowInput {
  id: string;
  nextRunAt?: string | null;
  watch?: { mode: "poll" | "push"; expiresAt: string | null; lastNotificationAt: string | null };
  createdAt?: string;
  updatedAt?: string;
}

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "canceled";

export interface Run {
  id: string;
  flowId: string;
  trigger?: RunTrigger;
  status: RunStatus;
  progress: { exported: number; imported: number; failed: number };
  errors: Array<{ record?: string; destination?: string | number; code: string; message: string; resumeAt?: string }>;
  startedAt?: string | null;
  finishedAt?: string | null;
  createdAt?: string;
}

export interface FoundMessage {
  id: string;
  threadId: string;
  from: string;
  to: string;
  subject: string;
  date: string;
  snippet: string;
}

export interface Account {
  id: string;
  name: string;
  isAdmin?: boolean;
}

export interface FieldProblem {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** Validation details as `{field: "body.name", message}` items (empty when there are none). */
  get fieldProblems(): FieldProblem[] {
    return Array.isArray(this.details)
      ? this.details.filter((d): d is FieldProblem => typeof d?.field === "string" && typeof d?.message === "string")
      : [];
  }
}

/** Fires `expired` when a call answers 401 (the session ended or was revoked). */
export const sessionEvents = new EventTarget();

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(0, "network_error", "The service could not be reached. Check your connection and try again.");
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const err = json?.error;
    if (res.status === 401 && path !== "/v1/session" && path !== "/v1/me") sessionEvents.dispatchEvent(new Event("expired"));
    throw new ApiError(
      res.status,
      typeof err?.code === "string" ? err.code : `http_${res.status}`,
      typeof err?.message === "string" ? err.message : `The service answered ${res.status}.`,
      err?.details,
    );
  }
  return json as T;
}

interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

/** Every item of a paged list (`{items, nextCursor}`), following the cursor. */
async function all<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null | undefined;
  for (let i = 0; i < 50; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await call<Page<T> | T[]>("GET", cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    if (Array.isArray(page)) return page;
    items.push(...page.items);
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return items;
}

const id = (s: string) => encodeURIComponent(s);

export type ConnectionInput = {
  name: string;
  application: string;
  scopes: string[];
  iClientId?: string | null;
  borrowConcurrencyFrom?: string | null;
  concurrencyLevel?: number | null;
};

export type IClientInput = (
  | { name: string; application: string; clientId: string; clientSecret?: string }
  | { name: string; application: string; clientJson: unknown }
) & { allowBilledUsage?: boolean };

export type TestResult = { ok: true; email: string } | { ok: false; error: { code: string; message: string } };

export const api = {
  signIn: (token: string) => call<Account>("POST", "/v1/session", { token }),
  signOut: () => call<void>("DELETE", "/v1/session"),
  me: () => call<Account>("GET", "/v1/me"),

  applications: async () => {
    const res = await call<Application[] | Page<Application>>("GET", "/v1/applications");
    return Array.isArray(res) ? res : res.items;
  },

  iclients: () => all<IClient>("/v1/iclients"),
  createIClient: (body: IClientInput) => call<IClient>("POST", "/v1/iclients", body),
  updateIClient: (iclientId: string, body: Partial<IClientInput>) => call<IClient>("PATCH", `/v1/iclients/${id(iclientId)}`, body),
  deleteIClient: (iclientId: string) => call<void>("DELETE", `/v1/iclients/${id(iclientId)}`),

  connections: () => all<Connection>("/v1/connections"),
  connection: (connectionId: string) => call<Connection>("GET", `/v1/connections/${id(connectionId)}`),
  createConnection: (body: ConnectionInput) => call<Connection>("POST", "/v1/connections", body),
  updateConnection: (connectionId: string, body: Partial<ConnectionInput>) =>
    call<Connection>("PATCH", `/v1/connections/${id(connectionId)}`, body),
  /** Resolves to the unconfirmed revocation when Google did not confirm it (200), nothing when it did (204). */
  deleteConnection: async (connectionId: string) =>
    (await call<{ revocation?: Connection["revocation"] } | undefined>("DELETE", `/v1/connections/${id(connectionId)}`))?.revocation ?? undefined,
  authorize: (connectionId: string) =>
    call<{ authorizeUrl: string; expiresAt: string }>("POST", `/v1/connections/${id(connectionId)}/authorize`, {}),
  testConnection: (connectionId: string) => call<TestResult>("POST", `/v1/connections/${id(connectionId)}/test`, {}),
  deauthorize: (connectionId: string) => call<Connection>("POST", `/v1/connections/${id(connectionId)}/deauthorize`, {}),
  retryRevoke: (connectionId: string) => call<Connection>("POST", `/v1/connections/${id(connectionId)}/revoke`, {}),
  lookup: (connectionId: string, body: { query: string; maxResults?: number }) =>
    call<{ messages: FoundMessage[] }>("POST", `/v1/connections/${id(connectionId)}/lookup`, body),

  flows: () => all<Flow>("/v1/flows"),
  flow: (flowId: string) => call<Flow>("GET", `/v1/flows/${id(flowId)}`),
  createFlow: (body: FlowInput) => call<Flow>("POST", "/v1/flows", body),
  updateFlow: (flowId: string, body: Partial<FlowInput>) => call<Flow>("PATCH", `/v1/flows/${id(flowId)}`, body),
  deleteFlow: (flowId: string) => call<void>("DELETE", `/v1/flows/${id(flowId)}`),
  runFlow: (flowId: string) => call<{ runId: string }>("POST", `/v1/flows/${id(flowId)}/run`, {}),
  /** A flow's runs, newest first (the API lists them oldest first). */
  flowRuns: async (flowId: string) => {
    const runs = (await all<Run>(`/v1/flows/${id(flowId)}/runs`)).reverse();
    return runs.sort((a, b) => runTime(b) - runTime(a));
  },
  run: (runId: string) => call<Run>("GET", `/v1/runs/${id(runId)}`),
  /** Where a run's archive downloads from (the session cookie authorizes the plain link). */
  runArchiveUrl: (runId: string) => `/v1/runs/${id(runId)}/archive`,
  archives: () => all<Archive>("/v1/archives"),
  /** Stream a file to `POST /v1/archives` (never read into memory here). */
  uploadArchive: async (file: File): Promise<Archive> => {
    let res: Response;
    try {
      res = await fetch(`/v1/archives?name=${encodeURIComponent(file.name)}`, {
        method: "POST",
        credentials: "same-origin",
        headers: { accept: "application/json", "content-type": "application/mbox" },
        body: file,
      });
    } catch {
      throw new ApiError(0, "network_error", "The service could not be reached. Check your connection and try again.");
    }
    const json = await res.json().catch(() => undefined);
    if (!res.ok) {
      const err = json?.error;
      throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? `The service answered ${res.status}.`, err?.details);
    }
    return json as Archive;
  },
  cancelRun: (runId: string) => call<Run | void>("POST", `/v1/runs/${id(runId)}/cancel`, {}),
};

const runTime = (r: Run) => Date.parse(r.createdAt ?? r.startedAt ?? "") || 0;

/**
 * Where a problem points, without the `body.` prefix: `body.name` → `name`,
 * `body.destinations.0.import.action` → `destinations.0.import.action`. A
 * missing property (reported on its parent) points at the property itself.
 */
export function fieldPath(problem: FieldProblem): string {
  const path = problem.field.startsWith("body") ? problem.field.replace(/^body\.?/, "") : problem.field;
  const missing = /required property '([^']+)'/.exec(problem.message)?.[1];
  return missing ? (path ? `${path}.${missing}` : missing) : path;
}

/** The nearest of `known` that is `path` or one of its ancestors (`clientJson.web.redirect_uris` → `clientJson`). */
function nearest(path: string, known: string[]): string | undefined {
  for (let p = path; p; p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "") if (known.includes(p)) return p;
  return undefined;
}

/** `must be string` → `Must be string.` */
const sentence = (message: string) => `${message.charAt(0).toUpperCase()}${message.slice(1)}${message.endsWith(".") ? "" : "."}`;

/**
 * Split an error into messages per field and the rest, for forms. `known` are
 * the paths the form shows a message at (`name`, `source.export.query`); a
 * problem goes to the nearest of them, or to `general`.
 */
export function problemsByField(err: unknown, known: string[]): { fields: Record<string, string>; general?: string } {
  if (!(err instanceof ApiError)) return { fields: {}, general: err instanceof Error ? err.message : String(err) };
  const fields: Record<string, string> = {};
  let unplaced = false;
  for (const p of err.fieldProblems) {
    const f = nearest(fieldPath(p), known);
    if (f === undefined) unplaced = true;
    else if (!fields[f]) fields[f] = sentence(/required property/.test(p.message) ? "Required" : p.message);
  }
  // 409 name_taken and friends name no field; a conflict on create is almost always the name.
  if (Object.keys(fields).length === 0 && err.code === "name_taken" && known.includes("name")) {
    fields.name = err.message;
    return { fields };
  }
  if (Object.keys(fields).length > 0 && !unplaced) return { fields };
  return { fields, general: err.message };
}
