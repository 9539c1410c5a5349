/** The flow model: a Gmail source and up to ten Gmail destinations, as stored and as the API shows it. */
import type { ExportSpec } from "../../connector/gmail-export.ts";
import { COMPOSING_ACTIONS, COPYING_ACTIONS, IN_PLACE_ACTIONS, type ImportSpec, type Mapping } from "../../connector/gmail-import.ts";
import { ApiError } from "../errors.ts";
import { newId } from "../secrets.ts";

export interface FlowSource {
  connectionId: string;
  export: ExportSpec;
}

export interface FlowDestination {
  /** Stable across edits of the flow (deliveries are recorded under it): generated on create, kept by PATCH. */
  id: string;
  connectionId: string;
  import: ImportSpec;
  mapping?: Mapping;
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
  source: { connectionId: string; export?: Partial<ExportSpec> };
  destinations: FlowDestinationInput[];
}

/** The export settings with every default filled in (the schema fills them too; a PATCH may not). */
export function withExportDefaults(spec: Partial<ExportSpec> | undefined): ExportSpec {
  return { format: "full", attachments: "metadata", maxMessages: 500, incremental: false, ...spec };
}

const invalid = (field: string, message: string) => new ApiError("validation_failed", `${field} ${message}.`, [{ field, message }]);

/** Rules the JSON Schema cannot say: which fields go with which action, and in-place actions on the source's own messages. */
export function checkDestinations(source: FlowInput["source"], destinations: FlowDestinationInput[]): void {
  destinations.forEach((d, i) => {
    const at = `body.destinations.${i}`;
    const { action, labelIds } = d.import;
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
    const same = current.find((c) => !taken.has(c.id) && c.connectionId === d.connectionId && c.import.action === d.import.action);
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
