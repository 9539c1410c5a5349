/** The archive as the API shows it (its shape is `archiveSchema`'s), and its row. */
import type { Archive } from "../../schemas/archives.ts";

export type { Archive };

export interface ArchiveRow {
  id: string;
  account_id: string;
  name: string;
  origin: Archive["origin"];
  run_id: string | null;
  status: Archive["status"];
  file_name: string;
  size_bytes: string | number;
  message_count: string | number;
  first_date: Date | null;
  last_date: Date | null;
  created_at: Date;
  updated_at: Date;
}

export function toArchive(row: ArchiveRow): Archive {
  return {
    id: row.id,
    name: row.name,
    origin: row.origin,
    runId: row.run_id,
    status: row.status,
    sizeBytes: Number(row.size_bytes),
    messageCount: Number(row.message_count),
    firstDate: row.first_date ? new Date(row.first_date).toISOString() : null,
    lastDate: row.last_date ? new Date(row.last_date).toISOString() : null,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
