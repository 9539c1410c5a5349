/**
 * The flow builder's form state and its two translations: a saved {@link Flow}
 * into a draft, and a draft into the API's {@link FlowInput} (SPEC §2 "Flows").
 * Form fields are strings; empty ones are left out of the body.
 */
import { ARCHIVE, type Connection, type ExportConfig, type Flow, type FlowInput, type ImportAction, type ImportConfig, type Mapping, type Run, type RunTrigger, type Trigger } from "./api.ts";

export interface SourceDraft {
  application: string;
  connectionId: string;
  /** An archive source: the archive to restore. */
  archiveId: string;
  query: string;
  labels: string;
  format: NonNullable<ExportConfig["format"]>;
  attachments: NonNullable<ExportConfig["attachments"]>;
  maxMessages: string;
  incremental: boolean;
}

export interface DestinationDraft {
  /** A stable key for the list while destinations are added and removed. */
  key: number;
  application: string;
  connectionId: string;
  action: ImportAction | "";
  labels: string;
  to: string;
  cc: string;
  subject: string;
  text: string;
}

/** The **When** section: what starts the flow's runs. */
export interface WhenDraft {
  type: Trigger["type"];
  enabled: boolean;
  schedule: "every" | "cron";
  every: string;
  cron: string;
  timezone: string;
  labels: string;
  query: string;
}

export interface FlowDraft {
  name: string;
  source?: SourceDraft;
  destinations: DestinationDraft[];
  when: WhenDraft;
}

/** The browser's own time zone, the default for a cron schedule. */
export const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

export function newWhen(): WhenDraft {
  return { type: "manual", enabled: true, schedule: "every", every: "1h", cron: "0 8 * * 1-5", timezone: localZone(), labels: "INBOX", query: "" };
}

export function whenOf(flow: Pick<Flow, "trigger" | "enabled">): WhenDraft {
  const w = { ...newWhen(), enabled: flow.enabled ?? true };
  const t = flow.trigger ?? { type: "manual" };
  if (t.type === "schedule") return "every" in t ? { ...w, type: "schedule", schedule: "every", every: t.every } : { ...w, type: "schedule", schedule: "cron", cron: t.cron, timezone: t.timezone ?? "UTC" };
  if (t.type === "gmail") return { ...w, type: "gmail", labels: (t.labelIds ?? []).join(", "), query: t.query ?? "" };
  return w;
}

export function triggerOf(w: WhenDraft): Trigger {
  if (w.type === "schedule") return w.schedule === "every" ? { type: "schedule", every: w.every.trim() } : { type: "schedule", cron: w.cron.trim(), timezone: w.timezone.trim() || "UTC" };
  if (w.type === "gmail") {
    const t: Trigger = { type: "gmail" };
    if (labelList(w.labels).length) t.labelIds = labelList(w.labels);
    if (w.query.trim()) t.query = w.query.trim();
    return t;
  }
  return { type: "manual" };
}

export const RUN_TRIGGER_TEXT: Record<RunTrigger, string> = { manual: "Run by hand", schedule: "Schedule", poll: "New mail", push: "New mail" };

export const ACTIONS: Array<{ value: ImportAction; label: string; hint: string }> = [
  { value: "send", label: "Send", hint: "Sends a new message built from the mapping below." },
  { value: "reply", label: "Reply", hint: "Replies in the message's thread, to its sender unless To says otherwise." },
  { value: "draft", label: "Create draft", hint: "Saves a draft built from the mapping below; nothing is sent." },
  { value: "insert", label: "Insert", hint: "Puts a copy straight into this mailbox, without scanning or filters." },
  { value: "import", label: "Import", hint: "Imports a copy as if it had been received (for backup and migration)." },
  { value: "addLabels", label: "Add labels", hint: "Adds the labels below to the message." },
  { value: "removeLabels", label: "Remove labels", hint: "Removes the labels below from the message." },
  { value: "trash", label: "Trash", hint: "Moves the message to the trash." },
];

/** Actions that compose a message from the mapping templates. */
export const COMPOSING: ImportAction[] = ["send", "reply", "draft"];
/** Actions that take label ids. */
export const LABELLING: ImportAction[] = ["insert", "import", "addLabels", "removeLabels"];

/** The largest optional cap on one run (the API's MAX_MESSAGES_CAP in schemas/flows.ts, which the bundle cannot import). */
export const MAX_MESSAGES = 100_000_000;

let nextKey = 1;

export function newSource(application: string): SourceDraft {
  return { application, connectionId: "", archiveId: "", query: "", labels: "", format: "full", attachments: "metadata", maxMessages: "", incremental: false };
}

export function newDestination(application: string): DestinationDraft {
  return { key: nextKey++, application, connectionId: "", action: "", labels: "", to: "", cc: "", subject: "", text: "" };
}

const labelList = (s: string) => s.split(",").map((l) => l.trim()).filter(Boolean);
const appOf = (connections: Connection[], id: string) => connections.find((c) => c.id === id)?.application ?? "gmail";

export function draftOf(flow: Flow, connections: Connection[]): FlowDraft {
  const destinations = flow.destinations.map((d) =>
    "import" in d
      ? {
          ...newDestination(appOf(connections, d.connectionId)),
          connectionId: d.connectionId,
          action: d.import.action,
          labels: (d.import.labelIds ?? []).join(", "),
          to: d.mapping?.to ?? "",
          cc: d.mapping?.cc ?? "",
          subject: d.mapping?.subject ?? "",
          text: d.mapping?.text ?? "",
        }
      : newDestination(ARCHIVE),
  );
  if (!("connectionId" in flow.source)) return { name: flow.name, when: whenOf(flow), source: { ...newSource(ARCHIVE), archiveId: flow.source.archiveId }, destinations };
  const e = flow.source.export ?? {};
  return {
    name: flow.name,
    when: whenOf(flow),
    source: {
      ...newSource(appOf(connections, flow.source.connectionId)),
      connectionId: flow.source.connectionId,
      query: e.query ?? "",
      labels: (e.labelIds ?? []).join(", "),
      format: e.format ?? "full",
      attachments: e.attachments ?? "metadata",
      maxMessages: e.maxMessages != null ? String(e.maxMessages) : "",
      incremental: Boolean(e.incremental),
    },
    destinations,
  };
}

export function bodyOf(draft: FlowDraft): FlowInput {
  const s = draft.source!;
  const destinations = draft.destinations.map(destinationBody);
  const common = { name: draft.name.trim(), trigger: triggerOf(draft.when), enabled: draft.when.enabled, destinations };
  if (s.application === ARCHIVE) return { ...common, source: { application: ARCHIVE, archiveId: s.archiveId } };
  const exp: ExportConfig = { format: s.format, attachments: s.attachments, incremental: s.incremental };
  if (s.query.trim()) exp.query = s.query.trim();
  if (labelList(s.labels).length) exp.labelIds = labelList(s.labels);
  if (s.maxMessages.trim()) exp.maxMessages = Number(s.maxMessages);
  return { ...common, source: { connectionId: s.connectionId, export: exp } };
}

function destinationBody(d: DestinationDraft): FlowInput["destinations"][number] {
  if (d.application === ARCHIVE) return { application: ARCHIVE };
  const action = d.action as ImportAction;
  const imp: ImportConfig = { action };
  if (LABELLING.includes(action) && labelList(d.labels).length) imp.labelIds = labelList(d.labels);
  if (!COMPOSING.includes(action)) return { connectionId: d.connectionId, import: imp };
  const mapping: Mapping = {};
  for (const k of ["to", "cc", "subject", "text"] as const) if (d[k].trim()) mapping[k] = d[k];
  return { connectionId: d.connectionId, import: imp, ...(Object.keys(mapping).length ? { mapping } : {}) };
}

/** What can be told before asking the service, keyed like the API's field paths. */
export function validateDraft(draft: FlowDraft): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!draft.name.trim()) errors.name = "Enter a name for the flow.";
  if (!draft.source) errors.source = "Add a source: where the messages come from.";
  else if (draft.source.application === ARCHIVE) {
    if (!draft.source.archiveId) errors["source.archiveId"] = "Choose an archive, or upload one.";
  } else {
    if (!draft.source.connectionId) errors["source.connectionId"] = "Choose a connection, or create one.";
    const n = Number(draft.source.maxMessages);
    if (draft.source.maxMessages.trim() && (!Number.isInteger(n) || n < 1 || n > MAX_MESSAGES))
      errors["source.export.maxMessages"] = `Enter a whole number from 1 to ${MAX_MESSAGES.toLocaleString("en")}, or leave it empty.`;
  }
  if (draft.destinations.length === 0) errors.destinations = "Add a destination: what happens to each message.";
  const w = draft.when;
  if (w.type === "schedule" && w.schedule === "every" && !/^[1-9][0-9]*[smhd]$/.test(w.every.trim()))
    errors["trigger.every"] = "Enter an interval such as 15m, 2h or 1d (at least 1m).";
  if (w.type === "schedule" && w.schedule === "cron" && w.cron.trim().split(/\s+/).length !== 5)
    errors["trigger.cron"] = "Enter five fields: minute hour day-of-month month day-of-week, such as 0 8 * * 1-5.";
  draft.destinations.forEach((d, i) => {
    if (d.application === ARCHIVE) return;
    if (!d.connectionId) errors[`destinations.${i}.connectionId`] = "Choose a connection, or create one.";
    if (!d.action) errors[`destinations.${i}.import.action`] = "Choose what to do with each message.";
    else if ((d.action === "addLabels" || d.action === "removeLabels") && labelList(d.labels).length === 0)
      errors[`destinations.${i}.import.labelIds`] = "Enter at least one label id.";
  });
  return errors;
}

export const RUN_STATUS_TEXT: Record<Run["status"], string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  canceled: "Canceled",
};

/** The flow writes an archive on each run (it has an archive destination). */
export const writesArchive = (flow: Pick<Flow, "destinations"> | undefined) => Boolean(flow?.destinations.some((d) => !("import" in d)));

export const isActive = (run: Run | undefined) => run?.status === "queued" || run?.status === "running";

export function progressText(run: Run): string {
  const p = run.progress ?? { exported: 0, imported: 0, failed: 0 };
  return `${p.exported} exported, ${p.imported} imported, ${p.failed} failed`;
}

export const actionLabel = (action: string) => ACTIONS.find((a) => a.value === action)?.label ?? action;
