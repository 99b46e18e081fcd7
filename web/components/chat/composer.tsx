"use client";

import { useCallback, useEffect, useId, useLayoutEffect, useRef, useState } from "react";
import { IMAGE_TYPES, MESSAGE_COUNTER_FROM, MESSAGE_MAX_LENGTH } from "@/lib/config";
import { readDraft, writeDraft } from "@/lib/drafts";
import { checkImage } from "@/lib/images";
import type { UiMessage } from "@/lib/types";
import { TypingEmitter } from "@/lib/socket";
import { cn } from "@/lib/utils";
import type { OutgoingImage } from "@/hooks/use-conversation";
import { useRealtime } from "@/components/providers/realtime-provider";
import { IconButton } from "@/components/ui/button";
import {
  CheckIcon,
  ImageIcon,
  PencilIcon,
  ReplyIcon,
  SendIcon,
  XIcon,
} from "@/components/ui/icons";

/** Characters as the server counts them (code points), after trimming. */
export function messageLength(text: string): number {
  return [...text.trim()].length;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function readDimensions(url: string): Promise<{ width?: number; height?: number }> {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve({ width: img.naturalWidth, height: img.naturalHeight });
    img.onerror = () => resolve({});
    img.src = url;
  });
}

export interface ComposerProps {
  chatId: string;
  disabled?: boolean;
  onSend: (text: string, image: OutgoingImage | null) => void;
  /** The message being answered, quoted above the box until sent or cancelled. */
  replyTo?: { message: UiMessage; name: string } | null;
  onCancelReply?: () => void;
  /** The message being edited: the box holds its text and Enter saves it. */
  editing?: UiMessage | null;
  onCancelEdit?: () => void;
  /** Saves the edit; resolves to an error sentence, or null when saved. */
  onSaveEdit?: (text: string) => Promise<string | null>;
  /** The up arrow in an empty box: start editing one's last message; false when there is none. */
  onEditLast?: () => boolean;
}

/**
 * Text box with image attach. Enter sends, Shift+Enter starts a new line. Also
 * where a reply is written (the quote shows above) and a message is edited.
 */
export function Composer({
  chatId,
  disabled,
  onSend,
  replyTo = null,
  onCancelReply,
  editing = null,
  onCancelEdit,
  onSaveEdit,
  onEditLast,
}: ComposerProps) {
  const { socket } = useRealtime();
  const [text, setText] = useState(() => readDraft(chatId));
  const [image, setImage] = useState<OutgoingImage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const textarea = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const inputId = useId();
  const errorId = useId();

  const typing = useRef<TypingEmitter | null>(null);
  useEffect(() => {
    if (!socket) return;
    const emitter = new TypingEmitter((event) => {
      if (socket.connected) socket.emit(event, { chatId });
    });
    typing.current = emitter;
    return () => {
      emitter.stop();
      typing.current = null;
    };
  }, [socket, chatId]);

  const [saving, setSaving] = useState(false);
  const editingId = editing?._id ?? null;
  const beforeEdit = useRef<string | null>(null);
  useEffect(() => {
    if (!editing) return;
    // Put the draft aside while editing and bring it back afterwards.
    beforeEdit.current = beforeEdit.current ?? readDraft(chatId);
    setText(editing.text ?? "");
    setError(null);
    textarea.current?.focus();
    return () => {
      setText(beforeEdit.current ?? "");
      beforeEdit.current = null;
    };
    // Only a different message restarts the edit, not a live update of the same one.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [editingId, chatId]);

  useEffect(() => {
    if (replyTo) textarea.current?.focus();
  }, [replyTo]);

  // Unsent text is kept per chat, across chat switches and reloads, and shown in the list;
  // not while editing, when the box holds the edited message.
  useEffect(() => {
    if (!editingId) writeDraft(chatId, text);
  }, [chatId, text, editingId]);

  // Grow with the text up to about six lines.
  useLayoutEffect(() => {
    const el = textarea.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  }, [text]);

  // Focus the box when a chat opens on a wide screen (on phones it would pop the keyboard).
  useEffect(() => {
    if (window.matchMedia("(min-width: 768px)").matches) textarea.current?.focus();
  }, [chatId]);

  const attach = useCallback(async (file: File | null | undefined) => {
    if (!file) return;
    const problem = checkImage(file);
    if (problem) {
      setError(problem);
      return;
    }
    setError(null);
    const previewUrl = URL.createObjectURL(file);
    const size = await readDimensions(previewUrl);
    setImage((current) => {
      if (current) URL.revokeObjectURL(current.previewUrl);
      return { file, previewUrl, ...size };
    });
    textarea.current?.focus();
  }, []);

  function clearImage() {
    // The URL is not revoked here when sending: the pending bubble still shows it.
    setImage(null);
    if (fileInput.current) fileInput.current.value = "";
  }

  async function saveEdit() {
    if (!editing || saving) return;
    const body = text.trim();
    if (!body) {
      setError("A message can't be empty. Delete it instead.");
      return;
    }
    if (body === (editing.text ?? "").trim()) {
      onCancelEdit?.();
      return;
    }
    setSaving(true);
    const problem = (await onSaveEdit?.(body)) ?? null;
    setSaving(false);
    if (problem) setError(problem);
    else {
      setError(null);
      onCancelEdit?.();
    }
  }

  function submit() {
    if (editing) {
      void saveEdit();
      return;
    }
    const body = text.trim();
    if (disabled || (!body && !image) || tooLong) return;
    onSend(body, image);
    setText("");
    setError(null);
    clearImage();
    typing.current?.stop();
    textarea.current?.focus();
  }

  const length = messageLength(text);
  const tooLong = length > MESSAGE_MAX_LENGTH;
  const counterId = useId();
  // An image dragged onto the conversation is attached, as if picked (it then uploads with progress).
  const [dragging, setDragging] = useState(false);
  useEffect(() => {
    const zone = textarea.current?.closest<HTMLElement>("[data-drop-zone]");
    if (!zone || disabled) return;
    const hasFiles = (event: DragEvent) => event.dataTransfer?.types.includes("Files") ?? false;
    const over = (event: DragEvent) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
      setDragging(true);
    };
    const leave = (event: DragEvent) => {
      if (!zone.contains(event.relatedTarget as Node | null)) setDragging(false);
    };
    const drop = (event: DragEvent) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      setDragging(false);
      void attach(event.dataTransfer?.files[0]);
    };
    zone.addEventListener("dragover", over);
    zone.addEventListener("dragleave", leave);
    zone.addEventListener("drop", drop);
    return () => {
      zone.removeEventListener("dragover", over);
      zone.removeEventListener("dragleave", leave);
      zone.removeEventListener("drop", drop);
    };
  }, [attach, disabled]);

  const canSend = editing
    ? !disabled && !saving && !tooLong && text.trim().length > 0
    : !disabled && !tooLong && (text.trim().length > 0 || image !== null);
  const quote = replyTo?.message;
  const quoteText = quote
    ? quote.deleted
      ? "This message was deleted"
      : quote.text || (quote.image ? "Photo" : "")
    : "";

  return (
    <div className="shrink-0 border-t border-border bg-surface px-3 pt-2 pb-[max(0.5rem,env(safe-area-inset-bottom))] sm:px-4">
      {dragging ? (
        <div
          data-testid="drop-overlay"
          className="pointer-events-none absolute inset-0 z-30 flex items-center justify-center border-2 border-dashed border-accent bg-accent-soft/80 text-lg font-semibold text-accent"
        >
          Drop the image to attach it
        </div>
      ) : null}
      {editing ? (
        <div
          className="mx-auto mb-2 flex max-w-3xl items-center gap-3 rounded-xl border-l-4 border-accent bg-surface-2 px-3 py-1.5"
          data-testid="edit-banner"
        >
          <PencilIcon size={16} className="shrink-0 text-accent" />
          <div className="min-w-0 flex-1 text-sm">
            <p className="font-semibold text-accent">Editing message</p>
            <p className="truncate text-xs text-muted">{editing.text}</p>
          </div>
          <IconButton label="Cancel editing" onClick={() => onCancelEdit?.()}>
            <XIcon size={18} />
          </IconButton>
        </div>
      ) : quote ? (
        <div
          className="mx-auto mb-2 flex max-w-3xl items-center gap-3 rounded-xl border-l-4 border-accent bg-surface-2 px-3 py-1.5"
          data-testid="reply-preview"
        >
          <ReplyIcon size={16} className="shrink-0 text-accent" />
          <div className="min-w-0 flex-1 text-sm">
            <p className="font-semibold text-accent">Replying to {replyTo?.name}</p>
            <p className="truncate text-xs text-muted">{quoteText}</p>
          </div>
          <IconButton label="Cancel reply" onClick={() => onCancelReply?.()}>
            <XIcon size={18} />
          </IconButton>
        </div>
      ) : null}
      {image ? (
        <div
          className="mx-auto mb-2 flex max-w-3xl items-center gap-3 rounded-xl border border-border bg-surface-2 p-2"
          data-testid="image-preview"
        >
          {/* eslint-disable-next-line @next/next/no-img-element */}
          <img
            src={image.previewUrl}
            alt="Selected image"
            className="h-16 w-16 rounded-lg object-cover"
            width={64}
            height={64}
          />
          <div className="min-w-0 flex-1 text-sm">
            <p className="truncate font-medium">{image.file.name}</p>
            <p className="text-xs text-muted">
              {formatBytes(image.file.size)}
              {image.width && image.height ? ` · ${image.width}×${image.height}` : ""}
            </p>
          </div>
          <IconButton
            label="Remove image"
            onClick={() => {
              URL.revokeObjectURL(image.previewUrl);
              clearImage();
            }}
          >
            <XIcon size={18} />
          </IconButton>
        </div>
      ) : null}
      {length >= MESSAGE_COUNTER_FROM ? (
        <p
          id={counterId}
          data-testid="length-counter"
          aria-live="polite"
          className={cn(
            "mx-auto mb-1 max-w-3xl text-right text-xs tabular-nums",
            tooLong ? "font-medium text-danger" : "text-muted",
          )}
        >
          {tooLong
            ? `${(length - MESSAGE_MAX_LENGTH).toLocaleString("en")} characters too long (the limit is ${MESSAGE_MAX_LENGTH.toLocaleString("en")})`
            : `${(MESSAGE_MAX_LENGTH - length).toLocaleString("en")} characters left`}
        </p>
      ) : null}
      {error ? (
        <p id={errorId} role="alert" className="mx-auto mb-2 max-w-3xl text-sm text-danger">
          {error}
        </p>
      ) : null}
      <form
        className="mx-auto flex max-w-3xl items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <input
          ref={fileInput}
          type="file"
          accept={IMAGE_TYPES.join(",")}
          className="sr-only"
          tabIndex={-1}
          aria-label="Attach an image"
          data-testid="image-input"
          onChange={(e) => void attach(e.target.files?.[0])}
        />
        <IconButton
          label="Attach image"
          onClick={() => fileInput.current?.click()}
          disabled={disabled || Boolean(editing)}
          data-testid="attach-button"
        >
          <ImageIcon />
        </IconButton>
        <label htmlFor={inputId} className="sr-only">
          Message
        </label>
        <textarea
          ref={textarea}
          id={inputId}
          data-testid="composer"
          rows={1}
          value={text}
          disabled={disabled}
          placeholder={
            editing ? "Edit your message…" : image ? "Add a caption…" : "Write a message…"
          }
          aria-invalid={tooLong || undefined}
          aria-describedby={
            [error ? errorId : "", length >= MESSAGE_COUNTER_FROM ? counterId : ""]
              .filter(Boolean)
              .join(" ") || undefined
          }
          onChange={(e) => {
            setText(e.target.value);
            if (e.target.value.trim()) typing.current?.keystroke();
            else typing.current?.stop();
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              submit();
            } else if (e.key === "Escape" && (editing || quote)) {
              e.preventDefault();
              if (editing) onCancelEdit?.();
              else onCancelReply?.();
            } else if (
              e.key === "ArrowUp" &&
              !editing &&
              !image &&
              text.length === 0 &&
              !e.shiftKey &&
              !e.altKey &&
              !e.metaKey &&
              !e.ctrlKey &&
              onEditLast?.()
            ) {
              e.preventDefault();
            }
          }}
          onPaste={(e) => {
            const file = Array.from(e.clipboardData.files).find((f) => f.type.startsWith("image/"));
            if (file) {
              e.preventDefault();
              void attach(file);
            }
          }}
          onBlur={() => typing.current?.stop()}
          className={cn(
            "max-h-40 min-h-10 flex-1 resize-none rounded-2xl border border-border bg-surface-2 px-4 py-2 text-[15px] leading-6 text-fg placeholder:text-muted",
            "focus:border-accent focus:bg-surface focus:outline-none focus:ring-2 focus:ring-ring/30 disabled:opacity-60",
          )}
        />
        <IconButton
          type="submit"
          label={editing ? "Save changes" : "Send message"}
          variant="primary"
          data-testid={editing ? "save-edit-button" : "send-button"}
          disabled={!canSend}
          className="text-accent-fg hover:text-accent-fg"
        >
          {editing ? <CheckIcon size={18} /> : <SendIcon size={18} />}
        </IconButton>
      </form>
    </div>
  );
}
