"use client";

import { useRouter, useSearchParams } from "next/navigation";
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
  const router = useRouter();
  const params = useSearchParams();
  const chatId = params.get("c");

  const openChat = useCallback(
    (id: string) => router.push(`/chats?c=${encodeURIComponent(id)}`),
    [router],
  );
  const closeChat = useCallback(() => router.push("/chats"), [router]);

  return (
    <div className="flex h-dvh w-full overflow-hidden bg-bg">
      <Sidebar
        activeChatId={chatId}
        onOpenChat={openChat}
        className={cn("w-full md:flex md:w-[22rem] md:shrink-0", chatId ? "hidden" : "flex")}
      />
      <main
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
            <h1 className="text-lg font-semibold">Pick a chat</h1>
            <p className="max-w-xs text-sm text-muted">
              Choose a conversation on the left, or start a new one with the buttons at the top.
            </p>
          </div>
        )}
      </main>
    </div>
  );
}
