/** Request and response shapes of `/v1/iclients`. */
import { APPLICATION_IDS, idPattern, pageOf, resourceName, usageRef } from "./connections.ts";

const clientId = { type: "string", minLength: 1, maxLength: 300, pattern: "^[\\x21-\\x7e]+$", description: "OAuth client id from Google Cloud Console." } as const;
const clientSecret = { type: "string", minLength: 1, maxLength: 500, description: "OAuth client secret. Write-only: never returned." } as const;
const clientJson = {
  type: ["object", "string"],
  maxLength: 100_000,
  description: 'The client JSON that Google Cloud Console downloads ({"web": {...}} or {"installed": {...}}), as an object or as the file\'s text. Replaces clientId and clientSecret; its redirect_uris set callbackUrlRegistered.',
} as const;
const allowBilledUsage = {
  type: "boolean",
  description:
    "Let Gmail calls go on past Google's daily billing threshold (GMAIL_PROJECT_DAILY_UNITS), where usage is charged. When false (the default), at 100 % the iClient's runs pause with daily_quota_reached until the next UTC day.",
} as const;

export const createIClientBody = {
  type: "object",
  additionalProperties: false,
  required: ["name", "application"],
  description: "Either clientId and clientSecret, or clientJson.",
  properties: { name: resourceName, application: { type: "string", enum: APPLICATION_IDS }, clientId, clientSecret, clientJson, allowBilledUsage },
} as const;

export const updateIClientBody = {
  type: "object",
  additionalProperties: false,
  description:
    "Rename, rotate the secret, or change the client id (clientId or clientJson). A new client id takes the connections using this iClient offline with reauthorize_required; a new secret alone does not.",
  properties: { name: resourceName, application: { type: "string", enum: APPLICATION_IDS }, clientId, clientSecret, clientJson, allowBilledUsage },
} as const;

export const iClientSchema = {
  type: "object",
  additionalProperties: false,
  required: ["id", "name", "application", "clientId", "clientSecretHint", "callbackUrlRegistered", "usedBy", "allowBilledUsage", "createdAt", "updatedAt"],
  properties: {
    id: { type: "string", pattern: idPattern },
    name: { type: "string" },
    application: { type: "string" },
    clientId: { type: "string" },
    clientSecretHint: { type: "string", description: '"…" and the last 4 characters of the secret ("…" alone for secrets under 8 characters).' },
    callbackUrlRegistered: {
      type: ["boolean", "null"],
      description: "Whether the imported client JSON lists the service's callback URL among its redirect_uris; null when unknown (created from clientId and clientSecret).",
    },
    usedBy: { type: "array", items: usageRef, description: "The connections that use this iClient." },
    allowBilledUsage: { ...allowBilledUsage, default: false },
    usage: {
      type: "object",
      additionalProperties: false,
      required: ["today", "dailyLimit", "warning"],
      description: "Gmail quota units this iClient spent today (UTC), counted across the cluster, against its daily units (Google's billing threshold).",
      properties: {
        today: { type: "integer", minimum: 0, description: "Units spent since 00:00 UTC." },
        dailyLimit: { type: "integer", minimum: 1, description: "GMAIL_PROJECT_DAILY_UNITS." },
        warning: { type: "boolean", description: "True from 90 % of dailyLimit." },
      },
    },
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
  },
} as const;

export const iClientPageSchema = pageOf(iClientSchema, "iClients");
