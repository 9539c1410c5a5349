-- One runner per run (issue 14): a run is claimed with a lease (owner, expiry) that its
-- runner renews, and every claim bumps the lease token, the fencing token each delivery
-- claim carries. Deliveries are keyed by a destination id that survives reordering the
-- flow's destinations, instead of the destination's index.
ALTER TABLE flow_runs ADD COLUMN lease_owner text;
ALTER TABLE flow_runs ADD COLUMN lease_expires_at timestamptz;
ALTER TABLE flow_runs ADD COLUMN lease_token bigint NOT NULL DEFAULT 0;
CREATE INDEX flow_runs_unfinished ON flow_runs (created_at) WHERE status IN ('queued', 'running');

-- Every stored destination gets a stable id (the same shape as newId("dst")).
UPDATE flows SET definition = jsonb_set(definition, '{destinations}', (
    SELECT jsonb_agg(CASE WHEN d ? 'id' THEN d ELSE d || jsonb_build_object('id', 'dst_' || substr(md5(flows.id || '/' || (n - 1)::text), 1, 20)) END ORDER BY n)
      FROM jsonb_array_elements(definition->'destinations') WITH ORDINALITY AS t(d, n)))
  WHERE jsonb_typeof(definition->'destinations') = 'array' AND jsonb_array_length(definition->'destinations') > 0;

ALTER TABLE flow_deliveries ADD COLUMN destination_id text;
-- A row of a destination removed since keeps a placeholder id that no destination has.
UPDATE flow_deliveries AS fd
   SET destination_id = COALESCE(f.definition->'destinations'->fd.destination_index->>'id', 'dst_removed_' || fd.destination_index::text)
  FROM flows AS f WHERE f.id = fd.flow_id;
ALTER TABLE flow_deliveries ALTER COLUMN destination_id SET NOT NULL;
ALTER TABLE flow_deliveries DROP CONSTRAINT flow_deliveries_pkey;
ALTER TABLE flow_deliveries ADD PRIMARY KEY (flow_id, destination_id, source_message_id);
ALTER TABLE flow_deliveries DROP COLUMN destination_index;
-- The lease token of the run attempt that last claimed a pending delivery.
ALTER TABLE flow_deliveries ADD COLUMN claim_token bigint;
