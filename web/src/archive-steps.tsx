/**
 * The builder's steps for the application **Archive** (SPEC §2 "Archives", §4): as a source, an
 * **Archive** select over the account's complete archives and **Upload archive**, which streams
 * an mbox file to the service; as a destination, a note that each run writes an archive, offered
 * afterwards as **Download archive** on the run.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Archive } from "./api.ts";
import { LabeledField } from "./field.tsx";
import type { SourceDraft } from "./flow-draft.ts";

const size = (bytes: number) => (bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`);

function archiveText(a: Archive): string {
  const count = `${a.messageCount.toLocaleString("en")} message${a.messageCount === 1 ? "" : "s"}`;
  return `${a.name} (${count}, ${size(a.sizeBytes)})`;
}

export function ArchiveSourceCard(props: { source: SourceDraft; errors: Record<string, string>; onChange: (source: SourceDraft) => void; onRemove: () => void }) {
  const s = props.source;
  const [archives, setArchives] = useState<Archive[]>();
  const [loadError, setLoadError] = useState<string>();
  const [upload, setUpload] = useState<{ busy?: boolean; error?: string; done?: string }>({});
  const file = useRef<HTMLInputElement>(null);

  useEffect(() => {
    api.archives().then(setArchives, (e) => setLoadError(`Could not list the archives: ${(e as Error).message}`));
  }, []);

  async function send(f: File) {
    setUpload({ busy: true });
    try {
      const archive = await api.uploadArchive(f);
      setArchives((list) => [...(list ?? []), archive]);
      props.onChange({ ...s, archiveId: archive.id });
      setUpload({ done: `Uploaded ${archiveText(archive)}.` });
    } catch (e) {
      setUpload({ error: `Upload failed: ${(e as Error).message}` });
    } finally {
      if (file.current) file.current.value = "";
    }
  }

  const complete = (archives ?? []).filter((a) => a.status === "complete");
  return (
    <section class="step-card" aria-labelledby="flow-source-title">
      <header class="step-head">
        <h2 id="flow-source-title">Source</h2>
        <span class="muted">Archive · restore</span>
        <button type="button" class="danger-link" onClick={props.onRemove}>
          Remove source
        </button>
      </header>
      {props.errors.source && (
        <p class="error" role="alert">
          {props.errors.source}
        </p>
      )}
      <div class="iclient-row">
        <LabeledField
          id="flow-src-archive"
          label="Archive"
          class="grow"
          error={props.errors["source.archiveId"] ?? loadError}
          hint="An mbox file (Google Takeout, Thunderbird, or a backup run's archive). Every message is restored with its labels and date."
        >
          {(a) => (
            <select {...a} value={s.archiveId} onChange={(e) => props.onChange({ ...s, archiveId: e.currentTarget.value })}>
              <option value="">{archives ? (complete.length ? "Choose an archive…" : "No archives yet: upload one") : "Loading…"}</option>
              {complete.map((x) => (
                <option key={x.id} value={x.id}>
                  {archiveText(x)}
                </option>
              ))}
            </select>
          )}
        </LabeledField>
        <input
          ref={file}
          type="file"
          accept=".mbox,application/mbox,text/plain"
          hidden
          aria-hidden="true"
          tabIndex={-1}
          onChange={(e) => {
            const f = e.currentTarget.files?.[0];
            if (f) void send(f);
          }}
        />
        <button type="button" class="field-button" onClick={() => file.current?.click()} disabled={upload.busy} aria-busy={upload.busy ? "true" : undefined}>
          Upload archive
        </button>
      </div>
      <div role="status">
        {upload.busy && <p class="hint">Uploading…</p>}
        {upload.done && <p class="hint">{upload.done}</p>}
        {upload.error && <p class="error">{upload.error}</p>}
      </div>
    </section>
  );
}

export function ArchiveDestinationCard(props: { index: number; onRemove: () => void }) {
  const n = props.index;
  return (
    <section class="step-card" aria-labelledby={`flow-dst-${n}-title`}>
      <header class="step-head">
        <h2 id={`flow-dst-${n}-title`}>Destination {n + 1}</h2>
        <span class="muted">Archive · backup</span>
        <button type="button" class="danger-link" onClick={props.onRemove} aria-label={`Remove destination ${n + 1}`}>
          Remove
        </button>
      </header>
      <p class="hint">
        Each run writes what the source exports into an mbox archive (raw messages, their labels and dates), with no message limit unless Max messages is set. Download it from the run when it ends.
      </p>
    </section>
  );
}
