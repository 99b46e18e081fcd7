import { Suspense } from "react";
import { ChatsScreen } from "@/components/chat/chats-screen";
import { AppShellSkeleton } from "@/components/app-shell-skeleton";

/** `/chats` lists the chats; `/chats?c=<chatId>` also opens one. */
export default function ChatsPage() {
  return (
    <Suspense fallback={<AppShellSkeleton />}>
      <ChatsScreen />
    </Suspense>
  );
}
