import { SessionProvider } from "@/components/providers/session-provider";
import { RealtimeProvider } from "@/components/providers/realtime-provider";
import { ChatsProvider } from "@/components/providers/chats-provider";
import { OfflineBanner } from "@/components/offline-banner";
import { ChatNotifications } from "@/components/notifications/chat-notifications";

/** Everything behind login: the session, one live connection, and the chat list. */
export default function SignedInLayout({ children }: { children: React.ReactNode }) {
  return (
    <SessionProvider>
      <RealtimeProvider>
        <ChatsProvider>
          <OfflineBanner />
          <ChatNotifications />
          {children}
        </ChatsProvider>
      </RealtimeProvider>
    </SessionProvider>
  );
}
