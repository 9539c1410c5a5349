import { useState } from "preact/hooks";

/** Copies `text` and says so in a live region; falls back to selecting a field when the clipboard API is refused. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [note, setNote] = useState("");
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setNote("Copied");
    } catch {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.append(area);
      area.select();
      const ok = document.execCommand("copy");
      area.remove();
      setNote(ok ? "Copied" : "Copy failed: select the URL and copy it");
    }
    setTimeout(() => setNote(""), 2500);
  }
  return (
    <>
      <button type="button" onClick={copy}>
        {label}
      </button>
      <span class="copy-note" role="status">
        {note}
      </span>
    </>
  );
}
