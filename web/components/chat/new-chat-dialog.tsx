"use client";

import { useState } from "react";
import * as api from "@/lib/api";
import { describeError } from "@/lib/errors";
import type { User } from "@/lib/types";
import { useChats } from "@/components/providers/chats-provider";
import { useSession } from "@/components/providers/session-provider";
import { Dialog } from "@/components/ui/dialog";
import { UserPicker } from "./user-picker";

export function NewChatDialog({
  open,
  onClose,
  onOpenChat,
}: {
  open: boolean;
  onClose: () => void;
  onOpenChat: (chatId: string) => void;
}) {
  const { user: me } = useSession();
  const { refresh } = useChats();
  const [busyId, setBusyId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function start(other: User) {
    setBusyId(other._id);
    setError(null);
    try {
      const { chatId } = await api.createChat(other._id);
      await refresh();
      onClose();
      onOpenChat(chatId);
    } catch (err) {
      setError(describeError(err, "chat"));
    } finally {
      setBusyId(null);
    }
  }

  return (
    <Dialog
      open={open}
      onClose={onClose}
      title="New chat"
      description="Find someone by name or email."
      data-testid="new-chat-dialog"
    >
      <div className="flex min-h-0 flex-1 flex-col px-5 pb-5">
        {error ? (
          <p role="alert" className="mb-3 rounded-lg bg-danger-soft px-3 py-2 text-sm text-danger">
            {error}
          </p>
        ) : null}
        <UserPicker excludeIds={[me._id]} onPick={start} busyId={busyId} autoFocus />
      </div>
    </Dialog>
  );
}
