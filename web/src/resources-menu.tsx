/**
 * The **Resources** menu button (WAI-ARIA menu button pattern): Enter, Space or
 * ArrowDown open it on the first item, arrows move, Escape closes and returns focus.
 */
import { useEffect, useRef, useState } from "preact/hooks";

export type View = "connections" | "iclients";
const ITEMS: Array<{ view: View; label: string }> = [
  { view: "connections", label: "Connections" },
  { view: "iclients", label: "iClients" },
];

/** `current` is undefined while a page outside the menu (Flows) is shown. */
export function ResourcesMenu({ current, onSelect }: { current?: View; onSelect: (view: View) => void }) {
  const [open, setOpen] = useState(false);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const menuRef = useRef<HTMLUListElement>(null);
  const focusIndex = useRef(0);

  useEffect(() => {
    if (!open) return;
    const items = menuRef.current?.querySelectorAll<HTMLElement>("[role=menuitem]");
    items?.[focusIndex.current]?.focus();
    const onDoc = (e: MouseEvent) => {
      if (!menuRef.current?.contains(e.target as Node) && !buttonRef.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", onDoc);
    return () => document.removeEventListener("mousedown", onDoc);
  }, [open]);

  function openAt(index: number) {
    focusIndex.current = index;
    setOpen(true);
  }

  function close(refocus: boolean) {
    setOpen(false);
    if (refocus) buttonRef.current?.focus();
  }

  function onMenuKey(e: KeyboardEvent) {
    const items = Array.from(menuRef.current?.querySelectorAll<HTMLElement>("[role=menuitem]") ?? []);
    const i = items.indexOf(document.activeElement as HTMLElement);
    const move = (to: number) => items[(to + items.length) % items.length]?.focus();
    if (e.key === "ArrowDown") move(i + 1);
    else if (e.key === "ArrowUp") move(i - 1);
    else if (e.key === "Home") move(0);
    else if (e.key === "End") move(items.length - 1);
    else if (e.key === "Escape") close(true);
    else if (e.key === "Tab") close(false);
    else return;
    if (e.key !== "Tab") e.preventDefault();
  }

  return (
    <div class="menu-wrap">
      <button
        ref={buttonRef}
        type="button"
        id="resources-button"
        aria-haspopup="menu"
        aria-expanded={open ? "true" : "false"}
        aria-controls="resources-menu"
        onClick={() => (open ? close(false) : openAt(0))}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") {
            e.preventDefault();
            openAt(0);
          } else if (e.key === "ArrowUp") {
            e.preventDefault();
            openAt(ITEMS.length - 1);
          }
        }}
      >
        Resources <span aria-hidden="true">▾</span>
      </button>
      {open && (
        <ul ref={menuRef} id="resources-menu" role="menu" aria-labelledby="resources-button" class="menu" onKeyDown={onMenuKey}>
          {ITEMS.map((item) => (
            <li role="none" key={item.view}>
              <a
                role="menuitem"
                href={`#/${item.view}`}
                tabIndex={-1}
                aria-current={item.view === current ? "page" : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  onSelect(item.view);
                  close(true);
                }}
              >
                {item.label}
              </a>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
