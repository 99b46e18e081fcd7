"use client";

import { useCallback, useEffect, useId, useLayoutEffect, useRef, useState } from "react";
import { IMAGE_TYPES, MAX_IMAGE_BYTES } from "@/lib/config";
import { statusMessage } from "@/lib/errors";
import { TypingEmitter } from "@/lib/socket";
import { cn } from "@/lib/utils";
import type { OutgoingImage } from "@/hooks/use-conversation";
import { useRealtime } from "@/components/providers/realtime-provider";
import { IconButton } from "@/components/ui/button";
import { ImageIcon, SendIcon, XIcon } from "@/components/ui/icons";

/** Unsent text per chat, so switching chats keeps what you were writing. */
const drafts = new Map<string, string>();

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** Checks a file before upload, with the same words the server's 413/415 would get. */
export function checkImage(file: File): string | null {
  if (!(IMAGE_TYPES as readonly string[]).includes(file.type))
    return statusMessage({ status: 415 });
  if (file.size > MAX_IMAGE_BYTES) return statusMessage({ status: 413 });
  return null;
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
}

/** Text box with image attach. Enter sends, Shift+Enter starts a new line. */
export function Composer({ chatId, disabled, onSend }: ComposerProps) {
  const { socket } = useRealtime();
  const [text, setText] = useState(() => drafts.get(chatId) ?? "");
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

  useEffect(() => {
    drafts.set(chatId, text);
  }, [chatId, text]);

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

  function submit() {
    const body = text.trim();
    if (disabled || (!body && !image)) return;
    onSend(body, image);
    setText("");
    setError(null);
    clearImage();
    typing.current?.stop();
    textarea.current?.focus();
  }

  const canSend = !disabled && (text.trim().length > 0 || image !== null);

  return (
    <div className="shrink-0 border-t border-border bg-surface px-3 pt-2 pb-[max(0.5rem,env(safe-area-inset-bottom))] sm:px-4">
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
          disabled={disabled}
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
          placeholder={image ? "Add a caption…" : "Write a message…"}
          aria-describedby={error ? errorId : undefined}
          onChange={(e) => {
            setText(e.target.value);
            if (e.target.value.trim()) typing.current?.keystroke();
            else typing.current?.stop();
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              submit();
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
          label="Send message"
          variant="primary"
          data-testid="send-button"
          disabled={!canSend}
          className="text-accent-fg hover:text-accent-fg"
        >
          <SendIcon size={18} />
        </IconButton>
      </form>
    </div>
  );
}
