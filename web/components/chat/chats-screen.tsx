"use client";

import { useSearchParams } from "next/navigation";
import { useCallback } from "react";
import { cn } from "@/lib/utils";
import { Logo } from "@/components/logo";
import { Sidebar } from "./sidebar";
import { Conversation } from "./conversation";

/**
 * The app shell: chat list and the open conversation side by side; on a phone
 * one at a time (the list, or the conversation with a back button).
 */
export function ChatsScreen() {
  const params = useSearchParams();
  const chatId = params.get("c");

  // Switching chats only changes the query of this page: the History API does it without the
  // router fetching a route payload, so it also works offline (Next keeps useSearchParams in step).
  const openChat = useCallback((id: string) => {
    const url = `/chats?c=${encodeURIComponent(id)}`;
    if (window.location.pathname + window.location.search !== url)
      window.history.pushState(null, "", url);
  }, []);
  const closeChat = useCallback(() => window.history.pushState(null, "", "/chats"), []);

  return (
    // One main landmark around both halves, so a phone showing only the list has one too.
    <main className="flex h-dvh w-full overflow-hidden bg-bg">
      <Sidebar
        activeChatId={chatId}
        onOpenChat={openChat}
        className={cn("w-full md:flex md:w-[22rem] md:shrink-0", chatId ? "hidden" : "flex")}
      />
      <div
        data-testid="conversation-pane"
        className={cn(
          "min-w-0 flex-1 flex-col bg-conversation md:flex",
          chatId ? "flex" : "hidden",
        )}
      >
        {chatId ? (
          <Conversation key={chatId} chatId={chatId} onBack={closeChat} onLeft={closeChat} />
        ) : (
          <div className="flex flex-1 flex-col items-center justify-center gap-3 p-8 text-center">
            <Logo withName={false} className="opacity-80" />
            <h2 className="text-lg font-semibold">Pick a chat</h2>
            <p className="max-w-xs text-sm text-muted">
              Choose a conversation on the left, or start a new one with the buttons at the top.
            </p>
          </div>
        )}
      </div>
    </main>
  );
}
