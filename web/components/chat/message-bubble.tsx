"use client";

import { memo } from "react";
import { clockTime } from "@/lib/dates";
import { linkify } from "@/lib/linkify";
import type { UiMessage } from "@/lib/types";
import { avatarHue, cn } from "@/lib/utils";
import { Avatar } from "@/components/ui/avatar";
import { AlertIcon, CheckCheckIcon, CheckIcon, ClockIcon } from "@/components/ui/icons";

const MAX_IMAGE_WIDTH = 280;
const MAX_IMAGE_HEIGHT = 320;

/** Display size for an image that keeps its aspect ratio, so it never shifts the list when it loads. */
function imageBox(width?: number, height?: number): { width: number; height: number } {
  if (!width || !height) return { width: 240, height: 180 };
  const scale = Math.min(1, MAX_IMAGE_WIDTH / width, MAX_IMAGE_HEIGHT / height);
  return {
    width: Math.max(80, Math.round(width * scale)),
    height: Math.max(60, Math.round(height * scale)),
  };
}

function StatusTick({ message }: { message: UiMessage }) {
  switch (message.status) {
    case "pending":
      return <ClockIcon size={13} aria-label="Sending" role="img" aria-hidden={false} />;
    case "sent":
      return <CheckIcon size={14} aria-label="Sent" role="img" aria-hidden={false} />;
    case "seen":
      return (
        <CheckCheckIcon
          size={15}
          aria-label="Seen"
          role="img"
          aria-hidden={false}
          className="text-seen"
        />
      );
    case "failed":
      return <AlertIcon size={14} aria-label="Not sent" role="img" aria-hidden={false} />;
  }
}

export interface MessageBubbleProps {
  message: UiMessage;
  own: boolean;
  /** Sender's name (groups show it at the start of a run). */
  senderName: string;
  showSender: boolean;
  /** Groups show the sender's avatar beside the first bubble of a run. */
  showAvatar: boolean;
  isGroup: boolean;
  firstOfRun: boolean;
  onRetry: (clientId: string) => void;
  onDiscard: (clientId: string) => void;
  onOpenImage: (message: UiMessage) => void;
}

export const MessageBubble = memo(function MessageBubble({
  message,
  own,
  senderName,
  showSender,
  showAvatar,
  isGroup,
  firstOfRun,
  onRetry,
  onDiscard,
  onOpenImage,
}: MessageBubbleProps) {
  const image = message.image?.url ? message.image : null;
  const box = image ? imageBox(image.width, image.height) : null;
  const text = message.text ?? "";
  const time = clockTime(message.createdAt);
  const failed = message.status === "failed";
  const uploading = message.status === "pending" && image && message.file;
  const percent = Math.round((message.progress ?? 0) * 100);

  return (
    <div
      data-testid="message"
      data-message-id={message._id}
      data-client-id={message.clientId ?? undefined}
      data-status={message.status}
      data-own={own ? "true" : "false"}
      className={cn(
        "flex w-full gap-2",
        own ? "justify-end" : "justify-start",
        firstOfRun ? "mt-2" : "mt-0.5",
      )}
    >
      {isGroup && !own ? (
        <div className="w-8 shrink-0">
          {showAvatar ? <Avatar name={senderName} seed={message.sender} size="sm" /> : null}
        </div>
      ) : null}
      <div
        className={cn("flex max-w-[min(80%,36rem)] flex-col", own ? "items-end" : "items-start")}
      >
        <div
          className={cn(
            "relative overflow-hidden rounded-2xl shadow-sm",
            own ? "bg-bubble-own text-bubble-own-fg" : "bg-bubble-other text-bubble-other-fg",
            firstOfRun && (own ? "rounded-tr-md" : "rounded-tl-md"),
            failed && "opacity-80 ring-2 ring-danger",
            image ? "p-1" : "px-3 py-1.5",
          )}
        >
          {showSender ? (
            <p
              className={cn(
                "sender-name text-xs font-semibold",
                image ? "px-2 pt-1 pb-1" : "pb-0.5",
              )}
              style={{ "--sender-hue": avatarHue(message.sender) } as React.CSSProperties}
            >
              {senderName}
            </p>
          ) : null}
          {image && box ? (
            <button
              type="button"
              onClick={() => onOpenImage(message)}
              className="relative block overflow-hidden rounded-xl bg-surface-3"
              style={{ width: box.width, height: box.height }}
              aria-label={`Open image${text ? `: ${text}` : ""} from ${own ? "you" : senderName}`}
              data-testid="message-image"
            >
              {/* Plain <img>: signed media URLs are served as they are (static export, no optimizer). */}
              {/* eslint-disable-next-line @next/next/no-img-element */}
              <img
                src={image.url}
                alt={text || `Image from ${own ? "you" : senderName}`}
                width={box.width}
                height={box.height}
                loading="lazy"
                decoding="async"
                className="h-full w-full object-cover"
              />
              {uploading ? (
                <span className="absolute inset-0 flex items-center justify-center bg-black/40">
                  <span
                    role="progressbar"
                    aria-label="Uploading image"
                    aria-valuemin={0}
                    aria-valuemax={100}
                    aria-valuenow={percent}
                    data-testid="upload-progress"
                    className="w-3/4"
                  >
                    <span className="block h-1.5 overflow-hidden rounded-full bg-white/30">
                      <span
                        className="block h-full rounded-full bg-white transition-[width]"
                        style={{ width: `${percent}%` }}
                      />
                    </span>
                    <span className="mt-1.5 block text-center text-xs font-semibold text-white">
                      {percent}%
                    </span>
                  </span>
                </span>
              ) : null}
            </button>
          ) : null}
          <div className={cn(image && text && "px-2 pt-1 pb-1")}>
            {text ? (
              <p className="text-[15px] leading-snug break-words whitespace-pre-wrap">
                {linkify(text).map((part, i) =>
                  part.kind === "link" ? (
                    <a
                      key={i}
                      href={part.href}
                      target="_blank"
                      rel="noopener noreferrer nofollow"
                      className="underline underline-offset-2"
                    >
                      {part.value}
                    </a>
                  ) : (
                    <span key={i}>{part.value}</span>
                  ),
                )}
                {/* An invisible copy of the time keeps room for it at the end of the last line. */}
                <span
                  aria-hidden="true"
                  className="invisible inline-block pl-3 text-[11px] leading-4"
                >
                  {time}
                  {own ? <span className="inline-block w-[19px]" /> : null}
                </span>
              </p>
            ) : null}
          </div>
          <span
            className={cn(
              "absolute flex items-center gap-1 text-[11px] leading-4 tabular-nums",
              text
                ? cn("right-2.5 bottom-1", own ? "text-bubble-own-fg/75" : "text-muted")
                : "right-2.5 bottom-2.5 rounded-full bg-black/55 px-1.5 py-0.5 text-white",
            )}
          >
            <time dateTime={message.createdAt}>{time}</time>
            {own ? <StatusTick message={message} /> : null}
          </span>
        </div>
        {failed && message.clientId ? (
          <div
            role="alert"
            className="mt-1 flex flex-wrap items-center justify-end gap-x-2 text-xs text-danger"
          >
            <span>{message.error ?? "Not sent."}</span>
            <button
              type="button"
              className="font-semibold underline underline-offset-2 hover:no-underline"
              onClick={() => onRetry(message.clientId!)}
              data-testid="retry-button"
            >
              Retry
            </button>
            <button
              type="button"
              className="text-muted underline underline-offset-2 hover:no-underline"
              onClick={() => onDiscard(message.clientId!)}
              data-testid="discard-button"
            >
              Delete
            </button>
          </div>
        ) : null}
      </div>
    </div>
  );
});
