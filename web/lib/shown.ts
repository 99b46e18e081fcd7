/** What each conversation showed last, by chat id, so switching back (also offline) shows it at once. */
import type { UiMessage } from "./types";

export const shownConversations = new Map<string, { messages: UiMessage[]; hasMore: boolean }>();

/** Forgets what conversations showed (the session ended: the next person starts afresh). */
export function forgetShownConversations(): void {
  shownConversations.clear();
}
