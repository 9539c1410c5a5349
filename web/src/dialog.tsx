/**
 * A modal built on the native `<dialog>`: `showModal()` gives the dialog role,
 * the focus trap, the inert background and Escape for free; we add the first
 * focus, a labelled title, and focus going back to the opener on close.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";

export interface DialogProps {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  /** CSS class for sizing (`wide`). */
  class?: string;
  /** `alertdialog` for confirmations. */
  role?: "dialog" | "alertdialog";
}

export function Dialog({ title, onClose, children, class: cls, role = "dialog" }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const closeRef = useRef(onClose);
  closeRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current!;
    const opener = document.activeElement as HTMLElement | null;
    dialog.showModal();
    const first = dialog.querySelector<HTMLElement>("[autofocus], input:not([type=hidden]):not([readonly]), select, textarea, button:not(.dialog-x)");
    first?.focus();
    const onCancel = (e: Event) => {
      e.preventDefault(); // we close through state, so Preact stays the owner of the DOM
      closeRef.current();
    };
    dialog.addEventListener("cancel", onCancel);
    return () => {
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected) opener.focus();
    };
  }, []);

  return (
    <dialog ref={ref} class={`dialog ${cls ?? ""}`} role={role === "alertdialog" ? "alertdialog" : undefined} aria-labelledby={titleId}>
      <header class="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" class="dialog-x icon" aria-label="Close" onClick={() => closeRef.current()}>
          ×
        </button>
      </header>
      {children}
    </dialog>
  );
}

/**
 * "Are you sure?" with the destructive action named on its button. While the
 * promise `onConfirm` returns is pending the button is busy; if it rejects,
 * its message is shown and the dialog stays open.
 */
export function ConfirmDialog(props: {
  title: string;
  message: ComponentChildren;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  const [state, setState] = useState<{ busy?: boolean; error?: string }>({});

  async function confirm() {
    setState({ busy: true });
    try {
      await props.onConfirm();
    } catch (err) {
      setState({ error: (err as Error).message });
    }
  }

  return (
    <Dialog title={props.title} onClose={props.onClose} role="alertdialog">
      <div class="dialog-body">{props.message}</div>
      {state.error && (
        <p class="error" role="alert">
          {state.error}
        </p>
      )}
      <div class="dialog-actions">
        <button type="button" class="danger" disabled={state.busy} onClick={confirm}>
          {props.confirmLabel}
        </button>
        <button type="button" autofocus onClick={props.onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}
