/**
 * Flows of an account: CRUD, with every connection checked to be the
 * account's own Gmail connection (another account's answers 404), and the
 * `flow_connections` rows kept in step so a used connection cannot be deleted.
 */
import type { Db, Queryable } from "../../core/store/db.ts";
import { isUniqueViolation } from "../../core/store/db.ts";
import { newId } from "../../core/secrets.ts";
import { ApiError, notFound } from "../../core/errors.ts";
import { pageFilter, pageLimit, toPage, type Page, type PageRequest } from "../../core/paging.ts";
import { assignDestinationIds, checkDestinations, isArchiveDestination, isArchiveSource, storedSource, toFlow, type Flow, type FlowDestination, type FlowInput } from "./flow.ts";

/** The Gmail connections a flow uses (an archive source or destination has none). */
function connectionIds(input: FlowInput): string[] {
  const ids = [isArchiveSource(input.source) ? undefined : input.source.connectionId, ...input.destinations.map((d) => (isArchiveDestination(d) ? undefined : d.connectionId))];
  return [...new Set(ids.filter((id): id is string => !!id))];
}

export class FlowStore {
  constructor(private readonly db: Db) {}

  async list(accountId: string, page: PageRequest = {}): Promise<Page<Flow>> {
    const limit = pageLimit(page);
    const filter = pageFilter(page, 2);
    const rows = await this.db.query(
      `SELECT * FROM flows WHERE account_id = $1${filter.sql} ORDER BY created_at, id LIMIT ${limit + 1}`,
      [accountId, ...filter.params],
    );
    return toPage(rows as any[], limit, toFlow);
  }

  async get(accountId: string, id: string, q: Queryable = this.db): Promise<Flow> {
    const rows = await q.query("SELECT * FROM flows WHERE id = $1 AND account_id = $2", [id, accountId]);
    if (!rows[0]) throw notFound("Flow");
    return toFlow(rows[0]);
  }

  async create(accountId: string, input: FlowInput): Promise<Flow> {
    const id = newId("flw");
    return this.write(input.name, async (q) => {
      const definition = await this.definition(q, accountId, input, []);
      await q.query("INSERT INTO flows (id, account_id, name, definition) VALUES ($1, $2, $3, $4::jsonb)", [id, accountId, input.name, JSON.stringify(definition)]);
      await this.link(q, id, input);
      return this.get(accountId, id, q);
    });
  }

  async update(accountId: string, id: string, patch: Partial<FlowInput>): Promise<Flow> {
    return this.write(patch.name, async (q) => {
      const current = await this.get(accountId, id, q);
      await q.query("SELECT id FROM flows WHERE id = $1 FOR UPDATE", [id]);
      const input: FlowInput = {
        name: patch.name ?? current.name,
        source: patch.source ?? current.source,
        destinations: patch.destinations ?? current.destinations,
      };
      const definition = await this.definition(q, accountId, input, current.destinations);
      await q.query(
        "UPDATE flows SET name = $3, definition = $4::jsonb, updated_at = date_trunc('milliseconds', now()) WHERE id = $1 AND account_id = $2",
        [id, accountId, input.name, JSON.stringify(definition)],
      );
      await q.query("DELETE FROM flow_connections WHERE flow_id = $1", [id]);
      await this.link(q, id, input);
      return this.get(accountId, id, q);
    });
  }

  async delete(accountId: string, id: string): Promise<void> {
    const rows = await this.db.query("DELETE FROM flows WHERE id = $1 AND account_id = $2 RETURNING id", [id, accountId]);
    if (!rows[0]) throw notFound("Flow");
  }

  private async definition(q: Queryable, accountId: string, input: FlowInput, current: FlowDestination[]) {
    checkDestinations(input.source, input.destinations);
    if (isArchiveSource(input.source)) {
      const [archive] = await q.query<{ status: string }>("SELECT status FROM archives WHERE account_id = $1 AND id = $2", [accountId, input.source.archiveId]);
      if (!archive) throw new ApiError("not_found", `Archive ${input.source.archiveId} not found.`);
      if (archive.status !== "complete") throw new ApiError("validation_failed", `Archive ${input.source.archiveId} is not complete (${archive.status}): only a complete archive can be restored.`);
    }
    const ids = connectionIds(input);
    // FOR SHARE: a connection being deleted meanwhile waits for (or fails) this write.
    const rows = await q.query<{ id: string; application: string }>(
      "SELECT id, application FROM connections WHERE account_id = $1 AND id = ANY($2::text[]) FOR SHARE",
      [accountId, ids],
    );
    for (const cid of ids) {
      const row = rows.find((r) => r.id === cid);
      if (!row) throw new ApiError("not_found", `Connection ${cid} not found.`);
      if (row.application !== "gmail") throw new ApiError("validation_failed", `Connection ${cid} is not a Google Mail connection.`);
    }
    return { source: storedSource(input.source, input.destinations), destinations: assignDestinationIds(input.destinations, current) };
  }

  private async link(q: Queryable, flowId: string, input: FlowInput): Promise<void> {
    const ids = connectionIds(input);
    for (const cid of ids) await q.query("INSERT INTO flow_connections (flow_id, connection_id) VALUES ($1, $2)", [flowId, cid]);
  }

  private async write<T>(name: string | undefined, fn: (q: Queryable) => Promise<T>): Promise<T> {
    try {
      return await this.db.tx(fn);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError("name_taken", `A flow named "${name}" already exists.`, undefined, { cause: err });
      if ((err as { code?: string }).code === "23503") throw new ApiError("conflict", "A connection of the flow changed meanwhile: try again.", undefined, { cause: err });
      throw err;
    }
  }
}
