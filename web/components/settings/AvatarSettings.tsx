"use client";

import { useId, useRef, useState } from "react";
import * as api from "@/lib/api";
import { avatarOf } from "@/lib/avatars";
import { IMAGE_TYPES } from "@/lib/config";
import { describeError } from "@/lib/errors";
import { checkImage } from "@/lib/images";
import { useSession } from "@/components/providers/session-provider";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { FieldError, FieldHint } from "@/components/ui/input";

/**
 * The signed-in person's picture: upload a new one (the server crops it to a square and
 * removes its metadata) or remove it, so people see the initials again.
 */
export function AvatarSettings() {
  const { user, update } = useSession();
  const avatar = avatarOf(user);
  const [busy, setBusy] = useState<"upload" | "remove" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const headingId = useId();
  const hintId = useId();
  const errorId = useId();

  async function change(
    work: () => Promise<{ user: typeof user }>,
    done: string,
    kind: "upload" | "remove",
  ) {
    setBusy(kind);
    setError(null);
    setNotice(null);
    try {
      const result = await work();
      update(result.user);
      setNotice(done);
    } catch (err) {
      setError(describeError(err, "avatar"));
    } finally {
      setBusy(null);
    }
  }

  function onFile(event: React.ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = ""; // the same file may be picked again after an error
    if (!file) return;
    const problem = checkImage(file);
    if (problem) {
      setNotice(null);
      setError(problem);
      return;
    }
    void change(() => api.uploadAvatar(file), "Your picture was updated.", "upload");
  }

  return (
    <section
      aria-labelledby={headingId}
      className="mt-6 rounded-2xl border border-border bg-surface p-5 sm:p-6"
      data-testid="avatar-settings"
    >
      <h2 id={headingId} className="text-base font-semibold">
        Profile picture
      </h2>
      <div className="mt-4 flex items-center gap-4">
        <Avatar name={user.name} seed={user._id} image={avatar} size="xl" />
        <div className="flex min-w-0 flex-1 flex-wrap gap-2">
          <input
            ref={fileInput}
            type="file"
            accept={IMAGE_TYPES.join(",")}
            className="sr-only"
            tabIndex={-1}
            aria-hidden="true"
            onChange={onFile}
            data-testid="avatar-file-input"
          />
          <Button
            variant="secondary"
            size="sm"
            loading={busy === "upload"}
            disabled={busy !== null}
            onClick={() => fileInput.current?.click()}
            aria-describedby={`${hintId}${error ? ` ${errorId}` : ""}`}
            data-testid="avatar-upload-button"
          >
            {avatar ? "Change picture" : "Upload picture"}
          </Button>
          {avatar ? (
            <Button
              variant="ghost"
              size="sm"
              className="text-danger hover:bg-danger-soft"
              loading={busy === "remove"}
              disabled={busy !== null}
              onClick={() => void change(api.removeAvatar, "Your picture was removed.", "remove")}
              data-testid="avatar-remove-button"
            >
              Remove
            </Button>
          ) : null}
        </div>
      </div>
      <FieldHint id={hintId}>
        JPG, PNG, GIF or WebP up to 5 MB. It is cropped to a square; location and camera details are
        removed.
      </FieldHint>
      <FieldError id={errorId}>{error}</FieldError>
      {notice ? (
        <p role="status" className="mt-2 text-sm text-fg" data-testid="avatar-saved">
          {notice}
        </p>
      ) : null}
    </section>
  );
}
