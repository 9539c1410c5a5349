/**
 * The request bodies of the Gmail methods, as JSON Schemas of Google's resources (Message,
 * Draft, Label, ModifyMessageRequest, BatchModify/BatchDeleteMessagesRequest). As in Google's
 * JSON mapping, an unknown field or a value of the wrong type is a 400.
 */
import { object, reader, str, strList, type Reader } from "./validation.ts";

/** int64 fields travel as strings in JSON; numbers are accepted too. */
const int64 = { type: ["string", "integer"] };
const int32 = { type: "integer" };

const MESSAGE = object({
  id: str,
  threadId: str,
  labelIds: strList(),
  snippet: str,
  historyId: int64,
  internalDate: int64,
  sizeEstimate: int32,
  // Either base64 alphabet, padded or not, as Google's decoder reads it.
  raw: { type: "string", contentEncoding: "base64", pattern: "^[A-Za-z0-9+/_=-]*$" },
  payload: { type: "object" },
  classificationLabelValues: { type: "array" },
});

export interface MessageResource {
  id?: string;
  threadId?: string;
  labelIds?: string[];
  raw?: string;
}

export interface DraftResource {
  id?: string;
  message?: MessageResource;
}

export interface LabelResource {
  name?: string;
  messageListVisibility?: "show" | "hide";
  labelListVisibility?: "labelShow" | "labelShowIfUnread" | "labelHide";
  color?: { textColor?: string; backgroundColor?: string };
}

export interface ModifyRequest {
  ids?: string[];
  addLabelIds?: string[];
  removeLabelIds?: string[];
}

export const readMessage: Reader<MessageResource> = reader(MESSAGE);
export const readDraft: Reader<DraftResource> = reader(object({ id: str, message: MESSAGE }));
export const readLabel: Reader<LabelResource> = reader(
  object({
    id: str,
    name: str,
    type: { type: "string", enum: ["system", "user"] },
    messageListVisibility: { type: "string", enum: ["show", "hide"] },
    labelListVisibility: { type: "string", enum: ["labelShow", "labelShowIfUnread", "labelHide"] },
    color: object({ textColor: str, backgroundColor: str }),
    messagesTotal: int32,
    messagesUnread: int32,
    threadsTotal: int32,
    threadsUnread: int32,
  }),
);
export const readModify: Reader<ModifyRequest> = reader(object({ addLabelIds: strList(), removeLabelIds: strList() }));
export const readBatchModify: Reader<ModifyRequest> = reader(object({ ids: strList(), addLabelIds: strList(), removeLabelIds: strList() }));
export const readBatchDelete: Reader<ModifyRequest> = reader(object({ ids: strList() }));
