"use client";

import Link from "next/link";
import { useId, useState } from "react";
import * as api from "@/lib/api";
import { NAME_MAX_LENGTH } from "@/lib/config";
import { describeError } from "@/lib/errors";
import { cn, visibleLength } from "@/lib/utils";
import { useSession } from "@/components/providers/session-provider";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { ArrowLeftIcon, LogOutIcon } from "@/components/ui/icons";
import { FieldError, FieldHint, Input, Label } from "@/components/ui/input";
import { SessionsList } from "@/components/sessions-list";
import { AvatarSettings } from "@/components/settings/AvatarSettings";
import { SettingsPanel } from "@/components/settings/settings-panel";

/** The signed-in person's profile: display name (editable) and email. */
export function ProfileForm() {
  const { user, update, logout } = useSession();
  const [name, setName] = useState(user.name);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [saving, setSaving] = useState(false);
  const [loggingOut, setLoggingOut] = useState(false);
  const nameId = useId();
  const emailId = useId();
  const hintId = useId();
  const errorId = useId();

  const trimmed = name.trim();
  const length = visibleLength(trimmed);
  const tooLong = length > NAME_MAX_LENGTH;
  const unchanged = trimmed === user.name;

  async function onSubmit(event: React.FormEvent) {
    event.preventDefault();
    setSaved(false);
    if (length < 1 || tooLong) {
      setError(`Your name must be 1 to ${NAME_MAX_LENGTH} characters.`);
      return;
    }
    setSaving(true);
    setError(null);
    try {
      const result = await api.updateUser(trimmed);
      update(result.user);
      setName(result.user.name);
      setSaved(true);
    } catch (err) {
      setError(describeError(err, "profile"));
    } finally {
      setSaving(false);
    }
  }

  return (
    <main className="min-h-dvh bg-bg">
      <header className="flex h-16 items-center gap-2 border-b border-border bg-surface px-2 sm:px-4">
        <Link
          href="/chats"
          className="inline-flex h-10 items-center gap-2 rounded-full px-3 text-sm font-medium text-muted hover:bg-surface-2 hover:text-fg"
          data-testid="back-to-chats"
        >
          <ArrowLeftIcon size={18} />
          Chats
        </Link>
      </header>
      <div className="mx-auto max-w-md px-4 py-8">
        <div className="flex flex-col items-center text-center">
          <Avatar name={trimmed || user.name} seed={user._id} image={user} size="xl" />
          <h1 className="mt-3 text-xl font-semibold">Your profile</h1>
          <p className="text-sm text-muted">This is how other people see you on Parley.</p>
        </div>

        <form
          onSubmit={onSubmit}
          className="mt-8 rounded-2xl border border-border bg-surface p-5 sm:p-6"
          noValidate
        >
          <Label htmlFor={nameId}>Display name</Label>
          <Input
            id={nameId}
            data-testid="profile-name-input"
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              setSaved(false);
              if (error) setError(null);
            }}
            autoComplete="name"
            aria-invalid={error || tooLong ? true : undefined}
            aria-describedby={`${hintId}${error ? ` ${errorId}` : ""}`}
          />
          <FieldHint id={hintId} className={cn("flex justify-between", tooLong && "text-danger")}>
            <span>1 to {NAME_MAX_LENGTH} characters.</span>
            <span aria-hidden="true" className="tabular-nums">
              {length}/{NAME_MAX_LENGTH}
            </span>
          </FieldHint>
          <FieldError id={errorId}>{error}</FieldError>
          {saved ? (
            <p role="status" className="mt-2 text-sm text-success" data-testid="profile-saved">
              Saved.
            </p>
          ) : null}

          <Label htmlFor={emailId} className="mt-5">
            Email
          </Label>
          <Input
            id={emailId}
            value={user.email ?? ""}
            readOnly
            aria-readonly="true"
            className="bg-surface-2 text-muted"
            data-testid="profile-email"
          />
          <FieldHint>Your email is how you log in. It can&apos;t be changed.</FieldHint>

          <div className="mt-6 flex justify-end">
            <Button
              type="submit"
              loading={saving}
              disabled={unchanged || length < 1 || tooLong}
              data-testid="profile-save"
            >
              Save changes
            </Button>
          </div>
        </form>

        <AvatarSettings />

        <SettingsPanel />

        <SessionsList />

        <Button
          variant="ghost"
          className="mt-6 w-full text-danger hover:bg-danger-soft"
          loading={loggingOut}
          onClick={async () => {
            setLoggingOut(true);
            await logout();
          }}
          data-testid="profile-logout-button"
        >
          {loggingOut ? null : <LogOutIcon size={18} />}
          Log out
        </Button>
      </div>
    </main>
  );
}
