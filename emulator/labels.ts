/**
 * Gmail labels: the fixed system labels and user labels.
 */

export interface Label {
  id: string;
  name: string;
  type: "system" | "user";
  messageListVisibility?: "show" | "hide";
  labelListVisibility?: "labelShow" | "labelShowIfUnread" | "labelHide";
  color?: { textColor?: string; backgroundColor?: string };
}

const SYSTEM_IDS = [
  "CHAT", "SENT", "INBOX", "IMPORTANT", "TRASH", "DRAFT", "SPAM",
  "CATEGORY_FORUMS", "CATEGORY_UPDATES", "CATEGORY_PERSONAL", "CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL",
  "STARRED", "UNREAD",
] as const;

export function systemLabels(): Label[] {
  return SYSTEM_IDS.map((id) => ({ id, name: id, type: "system" }));
}

export function isSystemLabelName(name: string): boolean {
  return (SYSTEM_IDS as readonly string[]).includes(name.toUpperCase());
}
