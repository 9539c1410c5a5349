/** The archive as the API shows it, and its row. */
export interface Archive {
  id: string;
  name: string;
  /** `upload`: sent with `POST /v1/archives`; `run`: written by a flow run's archive destination. */
  origin: "upload" | "run";
  runId: string | null;
  /** `writing` while a run appends to it; only a `complete` archive can be downloaded or restored. */
  status: "writing" | "complete" | "failed";
  sizeBytes: number;
  messageCount: number;
  /** Earliest and latest `From ` line dates, null for an empty archive. */
  firstDate: string | null;
  lastDate: string | null;
  createdAt: string;
  updatedAt: string;
}

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
