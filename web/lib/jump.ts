/**
 * A request to show one message of a chat (a search result was chosen): the conversation of
 * that chat takes it once its history is loaded, whether it was open already or opens now.
 */
export interface JumpRequest {
  chatId: string;
  messageId: string;
}

let pending: JumpRequest | null = null;
const listeners = new Set<() => void>();

export function requestJump(request: JumpRequest): void {
  pending = request;
  listeners.forEach((listener) => listener());
}

/** The pending request for `chatId`, taken (a second call answers null). */
export function takeJump(chatId: string): string | null {
  if (!pending || pending.chatId !== chatId) return null;
  const { messageId } = pending;
  pending = null;
  return messageId;
}

export function onJumpRequest(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
