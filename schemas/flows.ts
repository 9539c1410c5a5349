/** Request and response shapes of `/v1/flows`, `/v1/runs` and the connection lookup. */
import { IMPORT_ACTIONS } from "../connector/gmail-import.ts";
import { idPattern, pageOf, resourceName } from "./connections.ts";

const resourceId = { type: "string", minLength: 1, maxLength: 64, pattern: idPattern } as const;
const labelIds = { type: "array", minItems: 1, maxItems: 100, uniqueItems: true, items: { type: "string", minLength: 1, maxLength: 200 } } as const;
const template = { type: "string", maxLength: 10_000 } as const;
export const MAX_DESTINATIONS = 10;
/** The largest `maxMessages` a flow may set: well past any real mailbox, and a safe integer everywhere. */
export const MAX_MESSAGES_CAP = 100_000_000;

export const exportSchema = {
  type: "object",
  additionalProperties: false,
  description: "What the source exports.",
  properties: {
    query: { type: "string", maxLength: 2000, description: "Gmail search query (q)." },
    labelIds: { ...labelIds, description: "Only messages carrying every one of these labels." },
    format: { type: "string", enum: ["full", "metadata", "minimal", "raw"], default: "full" },
    attachments: { type: "string", enum: ["none", "metadata", "content"], default: "metadata", description: "Attachments as metadata, or with their content (full and raw formats)." },
    maxMessages: {
      type: "integer",
      minimum: 1,
      maximum: MAX_MESSAGES_CAP,
      description: "An optional cap: at most this many messages per run. Unset (the default): no limit, the run pages through every message the query and labels match, in bounded memory.",
    },
    includeSpamTrash: { type: "boolean", description: "Spam and trash too. Default false; true for a flow with an archive destination (a whole-mailbox backup)." },
    incremental: {
      type: "boolean",
      default: false,
      description: "Keep a historyId checkpoint: the first run exports in full, later runs only messages added since (a too-old checkpoint resyncs in full).",
    },
  },
} as const;

export const importSchema = {
  type: "object",
  additionalProperties: false,
  required: ["action"],
  properties: {
    action: { type: "string", enum: IMPORT_ACTIONS },
    labelIds: { ...labelIds, description: "For insert and import (labels of the copy) and addLabels/removeLabels (required there)." },
  },
} as const;

export const mappingSchema = {
  type: "object",
  additionalProperties: false,
  description: "Templates for send, reply and draft; {{from}} {{to}} {{subject}} {{snippet}} {{date}} {{text}} are the source message's fields.",
  properties: { to: template, cc: template, subject: template, text: template },
} as const;

const application = {
  type: "string",
  enum: ["gmail", "archive"],
  description: "gmail (default): a Google Mail connection. archive: an mbox archive, no connection (SPEC §2 \"Archives\").",
} as const;

const source = {
  type: "object",
  additionalProperties: false,
  description: "A Google Mail source {connectionId, export}, or an archive to restore {application: \"archive\", archiveId} (a complete archive of the account).",
  properties: { application, connectionId: resourceId, archiveId: resourceId, export: exportSchema },
} as const;

const destination = {
  type: "object",
  additionalProperties: false,
  description:
    "A Google Mail destination {connectionId, import, mapping?}, or {application: \"archive\"}: each run writes what the source exports into an mbox archive of the run (GET /v1/runs/:id/archive).",
  properties: {
    application,
    id: {
      ...resourceId,
      description:
        "Set by the service. Give it back to keep a destination when changing or reordering the list (its deliveries are recorded under it, so nothing is delivered again); a destination without it keeps the id of the flow's destination to the same connection with the same action, or gets a new one.",
    },
    connectionId: resourceId,
    import: importSchema,
    mapping: mappingSchema,
  },
} as const;

const destinations = { type: "array", minItems: 1, maxItems: MAX_DESTINATIONS, items: destination } as const;

const duration = { type: "string", pattern: "^[1-9][0-9]{0,5}[smhd]$" } as const;
export const triggerSchema = {
  type: "object",
  additionalProperties: false,
  required: ["type"],
  description:
    "What starts the flow's runs. manual (default): only Run. schedule: every (at least 1m) or cron (five fields) with timezone (IANA, default UTC). gmail: when new mail the labels and query match arrives in the source mailbox (polled every pollEvery, default 1m; only mail arriving after enabling unless backfill). A trigger-started run is incremental from the flow's checkpoint.",
  properties: {
    type: { type: "string", enum: ["manual", "schedule", "gmail"] },
    every: { ...duration, description: "schedule: an interval such as 15m, 2h or 1d (s, m, h, d)." },
    cron: { type: "string", minLength: 9, maxLength: 200, description: "schedule: a five-field cron expression, such as 0 8 * * 1-5." },
    timezone: { type: "string", minLength: 1, maxLength: 64, description: "schedule with cron: an IANA time zone such as Europe/Berlin." },
    labelIds: { ...labelIds, description: "gmail: only new messages carrying every one of these labels." },
    query: { type: "string", maxLength: 2000, description: "gmail: only new messages this Gmail search query matches." },
    pollEvery: { ...duration, description: "gmail: how often the mailbox's history is polled (at least 1m)." },
    backfill: { ...duration, description: "gmail: once, when enabled, also deliver mail received this far back (such as 7d)." },
  },
} as const;
const enabled = { type: "boolean", description: "A disabled flow's trigger does not fire (Run still works). Default true." } as const;

export const createFlowBody = {
  type: "object",
  additionalProperties: false,
  required: ["name", "source", "destinations"],
  properties: { name: resourceName, source, destinations, trigger: triggerSchema, enabled },
} as const;

export const updateFlowBody = {
  type: "object",
  additionalProperties: false,
  minProperties: 1,
  description: "Replaces the given parts whole.",
  properties: { name: resourceName, source, destinations, trigger: triggerSchema, enabled },
} as const;

export const flowSchema = {
  type: "object",
  required: ["id", "name", "source", "destinations", "createdAt", "updatedAt"],
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    source: { type: "object", additionalProperties: true },
    destinations: { type: "array", items: { type: "object", additionalProperties: true } },
    trigger: triggerSchema,
    enabled: { type: "boolean" },
    nextRunAt: { type: ["string", "null"], format: "date-time", description: "The next schedule tick or poll; null when manual or disabled." },
    watch: {
      type: "object",
      additionalProperties: false,
      description:
        "gmail triggers: how new mail is noticed. lastNotificationAt: when new mail was last seen. stoppedReason/stoppedAt: the push watch was stopped because the source connection went offline, was deauthorized or deleted (the flow polls until it is watched again).",
      properties: {
        mode: { type: "string", enum: ["poll", "push"] },
        expiresAt: { type: ["string", "null"], format: "date-time" },
        lastNotificationAt: { type: ["string", "null"], format: "date-time" },
        stoppedReason: { type: "string", enum: ["connection_offline", "connection_deauthorized", "connection_deleted"] },
        stoppedAt: { type: "string", format: "date-time" },
      },
    },
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
  },
} as const;
export const flowPageSchema = pageOf(flowSchema, "flows");

export const runSchema = {
  type: "object",
  additionalProperties: false,
  required: ["id", "flowId", "trigger", "status", "progress", "errors", "startedAt", "finishedAt"],
  properties: {
    id: { type: "string" },
    flowId: { type: "string" },
    trigger: { type: "string", enum: ["manual", "schedule", "push", "poll"], description: "What started the run." },
    status: { type: "string", enum: ["queued", "running", "succeeded", "failed", "canceled"] },
    progress: {
      type: "object",
      additionalProperties: false,
      required: ["exported", "imported", "failed"],
      description: "exported: source records; imported: records delivered to every destination; failed: records that failed in at least one.",
      properties: { exported: { type: "integer" }, imported: { type: "integer" }, failed: { type: "integer" } },
    },
    errors: {
      type: "array",
      description: "At most 100 are kept.",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["code", "message"],
        properties: {
          record: { type: "string" },
          destination: { type: "integer" },
          code: { type: "string" },
          message: { type: "string" },
          resumeAt: { type: "string", format: "date-time", description: "With `daily_quota_reached`: when the paused run resumes (the next UTC day)." },
        },
      },
    },
    createdAt: { type: "string", format: "date-time" },
    startedAt: { type: ["string", "null"], format: "date-time" },
    finishedAt: { type: ["string", "null"], format: "date-time" },
  },
} as const;
export const runPageSchema = pageOf(runSchema, "runs");

export const lookupBody = {
  type: "object",
  additionalProperties: false,
  required: ["query"],
  properties: { query: { type: "string", minLength: 1, maxLength: 2000 }, maxResults: { type: "integer", minimum: 1, maximum: 100, default: 20 } },
} as const;

const str = { type: "string" } as const;
export const lookupResult = {
  type: "object",
  additionalProperties: false,
  required: ["messages"],
  properties: {
    messages: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["id", "threadId", "from", "to", "subject", "date", "snippet"],
        properties: { id: str, threadId: str, from: str, to: str, subject: str, date: str, snippet: str },
      },
    },
  },
} as const;
