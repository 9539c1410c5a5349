/**
 * The flow model, as stored and as the API shows it: a source (a Gmail connection, or an
 * archive to restore) and up to ten destinations (Gmail connections, or the run's archive).
 */
import type { ExportSpec } from "../../connector/gmail-export.ts";
import { COMPOSING_ACTIONS, COPYING_ACTIONS, IN_PLACE_ACTIONS, type ImportSpec, type Mapping } from "../../connector/gmail-import.ts";
import { ApiError } from "../../core/errors.ts";
import { newId } from "../../core/secrets.ts";

/** The application `archive` (SPEC §2 "Archives"): an mbox file, no OAuth and no connection. */
export const ARCHIVE_APPLICATION = "archive";

/**
 * A Gmail source (`application` absent or "gmail"), or an archive source (`application:
 * "archive"` with `archiveId`), which has neither a connection nor export settings: code that
 * reaches for `connectionId` checks {@link isArchiveSource} first (the type keeps it a string
 * so the Gmail-only paths, triggers among them, stay as they were; a Gmail trigger on an
 * archive source is refused).
 */
export interface FlowSource {
  application?: "gmail" | "archive";
  connectionId: string;
  archiveId?: string;
  export: ExportSpec;
}

export function isArchiveSource(source: { application?: string }): boolean {
  return source.application === ARCHIVE_APPLICATION;
}

/** A Gmail destination, or (`application: "archive"`) the run's archive, with no connection and no import. */
export interface FlowDestination {
  /** Stable across edits of the flow (deliveries are recorded under it): generated on create, kept by PATCH. */
  id: string;
  application?: "gmail" | "archive";
  connectionId: string;
  import: ImportSpec;
  mapping?: Mapping;
}

export function isArchiveDestination(d: { application?: string }): boolean {
  return d.application === ARCHIVE_APPLICATION;
}

export interface Flow {
  id: string;
  name: string;
  source: FlowSource;
  destinations: FlowDestination[];
  createdAt: string;
  updatedAt: string;
}

/** A destination as the API takes it: `id` names one of the flow's current destinations to keep it. */
export type FlowDestinationInput = Omit<FlowDestination, "id"> & { id?: string };

export interface FlowInput {
  name: string;
  source: { application?: "gmail" | "archive"; connectionId: string; archiveId?: string; export?: Partial<ExportSpec> };
  destinations: FlowDestinationInput[];
}

/**
 * The export settings with every default filled in. No message limit unless the flow sets
 * `maxMessages` (an optional cap): a run pages through everything its query and labels match.
 * A flow with an archive destination (a backup) takes spam and trash too, as Takeout does.
 */
export function withExportDefaults(spec: Partial<ExportSpec> | undefined, opts: { backup?: boolean } = {}): ExportSpec {
  return { format: "full", attachments: "metadata", ...(opts.backup ? { includeSpamTrash: true } : {}), incremental: false, ...spec };
}

const invalid = (field: string, message: string) => new ApiError("validation_failed", `${field} ${message}.`, [{ field, message }]);

/** The source as stored: an archive source keeps only its archive. */
export function storedSource(source: FlowInput["source"], destinations: FlowDestinationInput[]): FlowSource {
  if (isArchiveSource(source)) return { application: "archive", archiveId: source.archiveId } as FlowSource;
  return { connectionId: source.connectionId, export: withExportDefaults(source.export, { backup: destinations.some(isArchiveDestination) }) };
}

/** Rules the JSON Schema cannot say: which fields go with which application and action, and in-place actions on the source's own messages. */
export function checkDestinations(source: FlowInput["source"], destinations: FlowDestinationInput[]): void {
  if (isArchiveSource(source)) {
    if (!source.archiveId) throw invalid("body.source.archiveId", "is required for an archive source");
    if (source.connectionId !== undefined) throw invalid("body.source.connectionId", "is not used by an archive source");
    if (source.export !== undefined) throw invalid("body.source.export", "is not used by an archive source: it restores the whole archive");
  } else {
    if (!source.connectionId) throw invalid("body.source.connectionId", "is required for a Google Mail source");
    if (source.archiveId !== undefined) throw invalid("body.source.archiveId", "is only for an archive source (application archive)");
  }
  if (destinations.filter(isArchiveDestination).length > 1) throw invalid("body.destinations", "may hold one archive destination (a run writes one archive)");
  destinations.forEach((d, i) => {
    const at = `body.destinations.${i}`;
    if (isArchiveDestination(d)) {
      if (isArchiveSource(source)) throw invalid(`${at}.application`, "archive cannot take an archive source: restore it into a Google Mail destination");
      for (const f of ["connectionId", "import", "mapping"] as const) if (d[f] !== undefined) throw invalid(`${at}.${f}`, "is not used by an archive destination");
      return;
    }
    if (!d.connectionId) throw invalid(`${at}.connectionId`, "is required for a Google Mail destination");
    if (!d.import) throw invalid(`${at}.import`, "is required for a Google Mail destination");
    const { action, labelIds } = d.import;
    if (isArchiveSource(source) && IN_PLACE_ACTIONS.includes(action)) throw invalid(`${at}.import.action`, `${action} acts on the source's own messages: an archive source has none`);
    if (d.mapping && !COMPOSING_ACTIONS.includes(action)) throw invalid(`${at}.mapping`, `is only for send, reply and draft, not ${action}`);
    if (labelIds && !COPYING_ACTIONS.includes(action) && action !== "addLabels" && action !== "removeLabels") {
      throw invalid(`${at}.import.labelIds`, `is not used by ${action}`);
    }
    if ((action === "addLabels" || action === "removeLabels") && !labelIds?.length) throw invalid(`${at}.import.labelIds`, `is required for ${action}`);
    if (IN_PLACE_ACTIONS.includes(action) && d.connectionId !== source.connectionId) {
      throw invalid(`${at}.connectionId`, `must be the source connection: ${action} acts on the source's own messages`);
    }
  });
}

/**
 * Give each destination its id: the one it names (which must be one of `current`'s), else the
 * id of an unnamed-for current destination to the same connection with the same action (the
 * same destination, moved or edited), else a new one. So reordering the destinations, with or
 * without their ids, keeps every destination's deliveries.
 */
export function assignDestinationIds(destinations: FlowDestinationInput[], current: FlowDestination[] = []): FlowDestination[] {
  const taken = new Set<string>();
  destinations.forEach((d, i) => {
    if (d.id === undefined) return;
    if (!current.some((c) => c.id === d.id)) throw invalid(`body.destinations.${i}.id`, "is not one of this flow's destinations");
    if (taken.has(d.id)) throw invalid(`body.destinations.${i}.id`, "names a destination already listed");
    taken.add(d.id);
  });
  return destinations.map((d) => {
    if (d.id !== undefined) return { id: d.id, ...d };
    const same = current.find(
      (c) => !taken.has(c.id) && (isArchiveDestination(d) ? isArchiveDestination(c) : !isArchiveDestination(c) && c.connectionId === d.connectionId && c.import.action === d.import.action),
    );
    const id = same?.id ?? newId("dst");
    taken.add(id);
    return { id, ...d };
  });
}

export function toFlow(row: Record<string, any>): Flow {
  const def = row.definition as { source: FlowSource; destinations: FlowDestination[] };
  return {
    id: row.id,
    name: row.name,
    source: def.source,
    destinations: def.destinations,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
