"use client";

import { useId, useState } from "react";
import * as api from "@/lib/api";
import { GROUP_NAME_MAX_LENGTH } from "@/lib/config";
import { describeError } from "@/lib/errors";
import type { User } from "@/lib/types";
import { visibleLength } from "@/lib/utils";
import { useChats } from "@/components/providers/chats-provider";
import { useSession } from "@/components/providers/session-provider";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { XIcon } from "@/components/ui/icons";
import { FieldError, Input, Label } from "@/components/ui/input";
import { UserPicker } from "./user-picker";

export function NewGroupDialog({
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
  const [name, setName] = useState("");
  const [members, setMembers] = useState<User[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const nameId = useId();

  function close() {
    setName("");
    setMembers([]);
    setError(null);
    onClose();
  }

  function toggle(user: User) {
    setMembers((current) =>
      current.some((m) => m._id === user._id)
        ? current.filter((m) => m._id !== user._id)
        : [...current, user],
    );
  }

  async function create(event: React.FormEvent) {
    event.preventDefault();
    const trimmed = name.trim();
    if (!trimmed || visibleLength(trimmed) > GROUP_NAME_MAX_LENGTH) {
      setError(`Give the group a name of 1 to ${GROUP_NAME_MAX_LENGTH} characters.`);
      return;
    }
    if (members.length === 0) {
      setError("Pick at least one person to add.");
      return;
    }
    setSaving(true);
    setError(null);
    try {
      const { chatId } = await api.createGroup(
        trimmed,
        members.map((m) => m._id),
      );
      await refresh();
      close();
      onOpenChat(chatId);
    } catch (err) {
      setError(describeError(err, "group"));
    } finally {
      setSaving(false);
    }
  }

  return (
    <Dialog
      open={open}
      onClose={close}
      title="New group"
      description="Name the group and pick its members."
      data-testid="new-group-dialog"
    >
      <form onSubmit={create} className="flex min-h-0 flex-1 flex-col px-5 pb-5" noValidate>
        <Label htmlFor={nameId}>Group name</Label>
        <Input
          id={nameId}
          data-testid="group-name-input"
          value={name}
          onChange={(e) => setName(e.target.value)}
          placeholder="e.g. Weekend trip"
          maxLength={GROUP_NAME_MAX_LENGTH * 4}
          autoFocus
          autoComplete="off"
          className="shrink-0"
        />
        {members.length > 0 ? (
          <ul className="mt-3 flex flex-wrap gap-1.5" aria-label="Selected members">
            {members.map((m) => (
              <li key={m._id}>
                <button
                  type="button"
                  onClick={() => toggle(m)}
                  aria-label={`Remove ${m.name}`}
                  className="inline-flex items-center gap-1.5 rounded-full bg-accent-soft py-1 pr-2 pl-1 text-sm"
                >
                  <Avatar name={m.name} seed={m._id} image={m} size="xs" />
                  {m.name}
                  <XIcon size={14} />
                </button>
              </li>
            ))}
          </ul>
        ) : null}
        <p className="mt-4 mb-2 text-sm font-medium">Members</p>
        <UserPicker
          excludeIds={[me._id]}
          selectedIds={members.map((m) => m._id)}
          onPick={toggle}
          searchLabel="Search people to add"
        />
        <FieldError>{error}</FieldError>
        <div className="mt-4 flex justify-end gap-2">
          <Button variant="ghost" onClick={close}>
            Cancel
          </Button>
          <Button type="submit" loading={saving} data-testid="create-group-button">
            Create group{members.length ? ` (${members.length + 1})` : ""}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
