/**
 * Gmail labels as Google Takeout names them in `X-Gmail-Labels`: system labels
 * by their Takeout names ("Inbox", "Category Updates", ...), user labels by
 * their name, comma separated. Takeout also writes "Opened" for read mail and
 * "Archived" for mail outside the inbox; both only say "this label is absent".
 */

/** Gmail system label id → the name Takeout writes for it. */
export const TAKEOUT_SYSTEM_LABELS: Readonly<Record<string, string>> = Object.freeze({
  INBOX: "Inbox",
  SENT: "Sent",
  DRAFT: "Drafts",
  SPAM: "Spam",
  TRASH: "Trash",
  UNREAD: "Unread",
  STARRED: "Starred",
  IMPORTANT: "Important",
  CHAT: "Chat",
  CATEGORY_PERSONAL: "Category Personal",
  CATEGORY_SOCIAL: "Category Social",
  CATEGORY_PROMOTIONS: "Category Promotions",
  CATEGORY_UPDATES: "Category Updates",
  CATEGORY_FORUMS: "Category Forums",
});

/** Takeout names that carry no label of their own: they say UNREAD or INBOX is absent. */
export const TAKEOUT_MARKERS = Object.freeze(["Opened", "Archived"]);

const BY_NAME = new Map(Object.entries(TAKEOUT_SYSTEM_LABELS).map(([id, name]) => [name.toLowerCase(), id]));
/** Where a message lives when it is not "Archived" (Takeout marks mail with none of these). */
const PLACES = ["INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "CHAT"];

/**
 * The Takeout names of a message's label ids. `userLabels` maps user label ids to their
 * names; an id found in neither is left out (a label deleted since).
 */
export function takeoutLabelNames(labelIds: readonly string[], userLabels: ReadonlyMap<string, string>): string[] {
  const names: string[] = [];
  if (!labelIds.some((id) => PLACES.includes(id))) names.push("Archived");
  for (const id of labelIds) {
    const name = TAKEOUT_SYSTEM_LABELS[id] ?? userLabels.get(id);
    if (name !== undefined && !names.includes(name)) names.push(name);
  }
  if (!labelIds.includes("UNREAD")) names.push("Opened");
  return names;
}

/**
 * Split Takeout names back into system label ids and user label names (to find or create by
 * name). Matching a system name ignores case, as Gmail's own label names do.
 */
export function labelsFromTakeout(names: readonly string[]): { systemLabelIds: string[]; userLabelNames: string[] } {
  const systemLabelIds: string[] = [];
  const userLabelNames: string[] = [];
  for (const name of names) {
    if (TAKEOUT_MARKERS.some((m) => m.toLowerCase() === name.toLowerCase())) continue;
    const id = BY_NAME.get(name.toLowerCase());
    if (id) {
      if (!systemLabelIds.includes(id)) systemLabelIds.push(id);
    } else if (!userLabelNames.includes(name)) userLabelNames.push(name);
  }
  return { systemLabelIds, userLabelNames };
}

/** The header value: names joined by commas; a name holding a comma or a quote is quoted. */
export function formatLabelsHeader(names: readonly string[]): string {
  return names
    .map((n) => n.replace(/[\r\n]+/g, " "))
    .map((n) => (/[",]/.test(n) || n !== n.trim() ? `"${n.replace(/"/g, '""')}"` : n))
    .join(",");
}

/** Parse a header value written by {@link formatLabelsHeader} (or by Takeout). */
export function parseLabelsHeader(value: string): string[] {
  const names: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (value[i] === " " || value[i] === "\t") i++;
    let name = "";
    if (value[i] === '"') {
      i++;
      for (; i < value.length; i++) {
        if (value[i] === '"' && value[i + 1] === '"') (name += '"'), i++;
        else if (value[i] === '"') {
          i++;
          break;
        } else name += value[i];
      }
      const comma = value.indexOf(",", i);
      i = comma < 0 ? value.length : comma + 1;
    } else {
      const comma = value.indexOf(",", i);
      name = (comma < 0 ? value.slice(i) : value.slice(i, comma)).trim();
      i = comma < 0 ? value.length : comma + 1;
    }
    if (name !== "") names.push(name);
  }
  return names;
}
