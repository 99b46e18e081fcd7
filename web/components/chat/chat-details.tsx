"use client";

import { useEffect, useId, useRef, useState } from "react";
import * as api from "@/lib/api";
import { GROUP_NAME_MAX_LENGTH } from "@/lib/config";
import { describeError } from "@/lib/errors";
import type { User } from "@/lib/types";
import { pluralize, visibleLength } from "@/lib/utils";
import { useChats } from "@/components/providers/chats-provider";
import { useRealtime } from "@/components/providers/realtime-provider";
import { useSession } from "@/components/providers/session-provider";
import { Avatar } from "@/components/ui/avatar";
import { Pill } from "@/components/ui/badge";
import { Button, IconButton } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { LogOutIcon, PencilIcon, UserPlusIcon, XIcon } from "@/components/ui/icons";
import { FieldError, Input, Label } from "@/components/ui/input";
import { Spinner } from "@/components/ui/spinner";
import { UserPicker } from "./user-picker";

export interface ChatDetailsPanelProps {
  chatId: string;
  details: api.ChatDetails | null;
  fallbackTitle: string;
  other: User | null;
  onClose: () => void;
  onChanged: (details: api.ChatDetails) => void;
  onReload: () => Promise<void>;
  onLeft: () => void;
}

/** Who is in the chat; for groups also rename, add and remove members, and leave. */
export function ChatDetailsPanel({
  chatId,
  details,
  fallbackTitle,
  other,
  onClose,
  onChanged,
  onReload,
  onLeft,
}: ChatDetailsPanelProps) {
  const { user: me } = useSession();
  const { patchChat, removeChat, refresh } = useChats();
  const { online } = useRealtime();
  const [renaming, setRenaming] = useState(false);
  const [name, setName] = useState("");
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [toAdd, setToAdd] = useState<User[]>([]);
  const [confirmLeave, setConfirmLeave] = useState(false);
  const nameId = useId();

  const chat = details?.chat;
  const isGroup = chat?.isGroup ?? false;
  const members = details?.members ?? [];
  const admins = new Set(chat?.admins ?? []);
  const iAmAdmin = admins.has(me._id);
  const title = isGroup ? chat?.name || fallbackTitle : fallbackTitle;

  // Escape closes the panel wherever focus is (not only inside it), unless a dialog of its own is open.
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  const busyDialog = adding || confirmLeave || renaming;
  useEffect(() => {
    if (busyDialog) return;
    function onKey(event: KeyboardEvent) {
      if (event.key !== "Escape" || event.defaultPrevented) return;
      if (document.querySelector("dialog[open]")) return;
      closeRef.current();
    }
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [busyDialog]);

  async function rename(event: React.FormEvent) {
    event.preventDefault();
    const trimmed = name.trim();
    if (!trimmed || visibleLength(trimmed) > GROUP_NAME_MAX_LENGTH) {
      setError(`Group names are 1 to ${GROUP_NAME_MAX_LENGTH} characters.`);
      return;
    }
    setBusy("rename");
    setError(null);
    try {
      const result = await api.renameChat(chatId, trimmed);
      const newName = result.chat?.name ?? trimmed;
      if (details)
        onChanged({ ...details, chat: { ...details.chat, ...result.chat, name: newName } });
      patchChat(chatId, { name: newName });
      setRenaming(false);
    } catch (err) {
      setError(describeError(err, "group"));
    } finally {
      setBusy(null);
    }
  }

  async function remove(member: User) {
    setBusy(member._id);
    setError(null);
    try {
      await api.removeMember(chatId, member._id);
      await onReload();
    } catch (err) {
      setError(describeError(err, "group"));
    } finally {
      setBusy(null);
    }
  }

  async function addSelected() {
    if (toAdd.length === 0) return;
    setBusy("add");
    setError(null);
    try {
      await api.addMembers(
        chatId,
        toAdd.map((u) => u._id),
      );
      setAdding(false);
      setToAdd([]);
      await onReload();
    } catch (err) {
      setError(describeError(err, "group"));
    } finally {
      setBusy(null);
    }
  }

  async function leave() {
    setBusy("leave");
    setError(null);
    try {
      await api.leaveChat(chatId);
      setConfirmLeave(false);
      removeChat(chatId);
      onLeft();
      void refresh();
    } catch (err) {
      setError(describeError(err, "group"));
      setConfirmLeave(false);
    } finally {
      setBusy(null);
    }
  }

  return (
    <aside
      aria-label={isGroup ? "Group details" : "Chat details"}
      data-testid="chat-details"
      className="absolute inset-0 z-20 flex flex-col bg-surface md:static md:w-80 md:shrink-0 md:border-l md:border-border"
    >
      <header className="flex h-16 shrink-0 items-center justify-between gap-2 border-b border-border px-4">
        <h2 className="font-semibold">{isGroup ? "Group details" : "Details"}</h2>
        <IconButton label="Close details" onClick={onClose} autoFocus>
          <XIcon />
        </IconButton>
      </header>

      <div className="min-h-0 flex-1 overflow-y-auto p-4 scrollbar-thin">
        {!details ? (
          <div className="flex h-32 items-center justify-center text-muted">
            <Spinner label="Loading details" />
          </div>
        ) : (
          <>
            <div className="flex flex-col items-center text-center">
              <Avatar
                name={title}
                seed={isGroup ? chatId : (other?._id ?? chatId)}
                image={isGroup ? null : other}
                size="xl"
                online={!isGroup && Boolean(other && online.has(other._id))}
              />
              {renaming ? (
                <form onSubmit={rename} className="mt-3 w-full text-left" noValidate>
                  <Label htmlFor={nameId}>Group name</Label>
                  <Input
                    id={nameId}
                    value={name}
                    onChange={(e) => setName(e.target.value)}
                    autoFocus
                    data-testid="rename-input"
                    onKeyDown={(e) => {
                      if (e.key === "Escape") {
                        e.stopPropagation();
                        setRenaming(false);
                      }
                    }}
                  />
                  <div className="mt-2 flex justify-end gap-2">
                    <Button variant="ghost" size="sm" onClick={() => setRenaming(false)}>
                      Cancel
                    </Button>
                    <Button
                      type="submit"
                      size="sm"
                      loading={busy === "rename"}
                      data-testid="rename-save"
                    >
                      Save
                    </Button>
                  </div>
                </form>
              ) : (
                <div className="mt-3 flex items-center gap-1">
                  <p className="text-lg font-semibold break-all" data-testid="details-title">
                    {title}
                  </p>
                  {isGroup ? (
                    <IconButton
                      label="Rename group"
                      size="sm"
                      className="h-8 w-8"
                      onClick={() => {
                        setName(chat?.name ?? "");
                        setRenaming(true);
                      }}
                      data-testid="rename-button"
                    >
                      <PencilIcon size={16} />
                    </IconButton>
                  ) : null}
                </div>
              )}
              <p className="mt-0.5 text-sm text-muted">
                {isGroup
                  ? `Group · ${pluralize(members.length, "member", "members")}`
                  : (other?.email ?? "")}
              </p>
            </div>

            <FieldError className="text-center">{error}</FieldError>

            {isGroup ? (
              <section className="mt-6" aria-labelledby={`${nameId}-members`}>
                <div className="mb-2 flex items-center justify-between">
                  <h3 id={`${nameId}-members`} className="text-sm font-semibold text-muted">
                    Members
                  </h3>
                  {iAmAdmin ? (
                    <Button
                      variant="ghost"
                      size="sm"
                      onClick={() => setAdding(true)}
                      data-testid="add-members-button"
                    >
                      <UserPlusIcon size={16} />
                      Add people
                    </Button>
                  ) : null}
                </div>
                <ul className="space-y-0.5" data-testid="member-list">
                  {members.map((member) => {
                    const isMe = member._id === me._id;
                    return (
                      <li
                        key={member._id}
                        className="flex items-center gap-3 rounded-xl px-1 py-1.5"
                        data-testid="member"
                        data-user-id={member._id}
                      >
                        <Avatar
                          name={member.name}
                          seed={member._id}
                          image={member}
                          size="md"
                          online={!isMe && online.has(member._id)}
                        />
                        <span className="min-w-0 flex-1">
                          <span className="block truncate text-sm font-medium">
                            {member.name}
                            {isMe ? <span className="text-muted"> (you)</span> : null}
                          </span>
                          <span className="block truncate text-xs text-muted">{member.email}</span>
                        </span>
                        {admins.has(member._id) ? <Pill>Admin</Pill> : null}
                        {iAmAdmin && !isMe ? (
                          <IconButton
                            label={`Remove ${member.name} from the group`}
                            size="sm"
                            className="h-8 w-8"
                            loading={busy === member._id}
                            onClick={() => void remove(member)}
                            data-testid="remove-member-button"
                          >
                            {busy === member._id ? null : <XIcon size={16} />}
                          </IconButton>
                        ) : null}
                      </li>
                    );
                  })}
                </ul>
                <Button
                  variant="ghost"
                  className="mt-6 w-full justify-start text-danger hover:bg-danger-soft"
                  onClick={() => setConfirmLeave(true)}
                  data-testid="leave-group-button"
                >
                  <LogOutIcon size={18} />
                  Leave group
                </Button>
              </section>
            ) : null}
          </>
        )}
      </div>

      <Dialog
        open={adding}
        onClose={() => {
          setAdding(false);
          setToAdd([]);
        }}
        title="Add members"
        description={`Pick people to add to ${title}.`}
        data-testid="add-members-dialog"
      >
        <div className="flex min-h-0 flex-1 flex-col px-5 pb-5">
          <UserPicker
            excludeIds={members.map((m) => m._id)}
            selectedIds={toAdd.map((u) => u._id)}
            onPick={(u) =>
              setToAdd((current) =>
                current.some((c) => c._id === u._id)
                  ? current.filter((c) => c._id !== u._id)
                  : [...current, u],
              )
            }
            searchLabel="Search people to add"
            autoFocus
          />
          <div className="mt-4 flex justify-end gap-2">
            <Button variant="ghost" onClick={() => setAdding(false)}>
              Cancel
            </Button>
            <Button
              onClick={() => void addSelected()}
              disabled={toAdd.length === 0}
              loading={busy === "add"}
              data-testid="add-members-confirm"
            >
              Add{toAdd.length ? ` ${toAdd.length}` : ""}
            </Button>
          </div>
        </div>
      </Dialog>

      <Dialog
        open={confirmLeave}
        onClose={() => setConfirmLeave(false)}
        title="Leave this group?"
        description="You will stop getting its messages. Someone in the group can add you back."
      >
        <div className="flex justify-end gap-2 px-5 pb-5">
          <Button variant="ghost" onClick={() => setConfirmLeave(false)}>
            Stay
          </Button>
          <Button
            variant="danger"
            onClick={() => void leave()}
            loading={busy === "leave"}
            data-testid="leave-group-confirm"
          >
            Leave group
          </Button>
        </div>
      </Dialog>
    </aside>
  );
}
