"use client";

import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useEffect, useId, useRef, useState } from "react";
import * as api from "@/lib/api";
import { DEV_MAIL_URL, OTP_LENGTH } from "@/lib/config";
import { deadCode, describeError, isApiError } from "@/lib/errors";
import { safeNext } from "@/lib/redirect";
import {
  announceSession,
  codeExpiresAt,
  offerNaming,
  rememberCodeSent,
  resendAvailableAt,
} from "@/lib/session";
import { useCountdown } from "@/hooks/use-countdown";
import { Button } from "@/components/ui/button";
import { FieldError } from "@/components/ui/input";
import { MailIcon } from "@/components/ui/icons";
import { OtpInput } from "@/components/otp-input";

/** `4:05` for 245 seconds; `45 s` under a minute. */
function lifetime(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

export function VerifyForm() {
  const router = useRouter();
  const params = useSearchParams();
  const email = (params.get("email") ?? "").trim().toLowerCase();
  const rawNext = params.get("next");

  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [verifying, setVerifying] = useState(false);
  const [resending, setResending] = useState(false);
  const [availableAt, setAvailableAt] = useState(0);
  const [expiresAt, setExpiresAt] = useState(0);
  const [devMail, setDevMail] = useState(false);
  const errorId = useId();
  const submitted = useRef<string | null>(null);
  const left = useCountdown(availableAt);
  const validFor = useCountdown(expiresAt);
  const expired = expiresAt > 0 && validFor === 0;
  const [offerResend, setOfferResend] = useState(false);

  useEffect(() => {
    if (!offerResend || left > 0) return;
    setOfferResend(false);
    document.querySelector<HTMLButtonElement>('[data-testid="resend-button"]')?.focus();
  }, [offerResend, left]);

  useEffect(() => {
    setAvailableAt(resendAvailableAt(email));
    setExpiresAt(codeExpiresAt(email));
  }, [email]);

  useEffect(() => {
    const controller = new AbortController();
    void api.devMailAvailable(controller.signal).then((ok) => {
      if (!controller.signal.aborted) setDevMail(ok);
    });
    return () => controller.abort();
  }, []);

  async function verify(otp: string) {
    if (verifying || submitted.current === otp) return;
    submitted.current = otp;
    setVerifying(true);
    setError(null);
    setNotice(null);
    try {
      // The answer sets the session cookies; the token in its body is for API clients.
      const { user } = await api.verify(email, otp);
      // A new account is named after its address: the chats offer to pick a real name.
      if (user.createdAt === user.updatedAt && user.name === email.split("@")[0]) offerNaming(true);
      announceSession("signed-in");
      // Only a path on this site is followed; anything else goes to the chats.
      router.replace(safeNext(rawNext, window.location.origin));
    } catch (err) {
      setError(describeError(err, "verify"));
      if (isApiError(err, 400) || isApiError(err, 429)) setCode("");
      // This code can never work now: a new one may be sent at once (the server allows it).
      if (deadCode(err)) {
        rememberCodeSent(email, 0);
        setAvailableAt(0);
        setExpiresAt(0);
      }
      setVerifying(false);
      submitted.current = null;
      if (deadCode(err)) {
        setOfferResend(true); // focused below, once the button is enabled
        return;
      }
      // Put the caret back where the person can type again.
      requestAnimationFrame(() =>
        document.querySelector<HTMLInputElement>('[data-testid="otp-0"]')?.focus(),
      );
    }
  }

  async function resend() {
    setResending(true);
    setError(null);
    setNotice(null);
    try {
      const sent = await api.login(email);
      const now = Date.now();
      const at = now + sent.resendIn * 1000;
      rememberCodeSent(email, at, now + sent.expiresIn * 1000);
      setAvailableAt(at);
      setExpiresAt(now + sent.expiresIn * 1000);
      setCode("");
      setNotice(`We sent a new code to ${email}.`);
    } catch (err) {
      if (isApiError(err, 429) && err.retryAfter) {
        const at = Date.now() + err.retryAfter * 1000;
        rememberCodeSent(email, at);
        setAvailableAt(at);
      }
      setError(describeError(err, "resend"));
    } finally {
      setResending(false);
    }
  }

  if (!email) {
    return (
      <div className="text-center">
        <h1 className="text-xl font-semibold">Which email?</h1>
        <p className="mt-2 text-sm text-muted">Start by entering your email address.</p>
        <Link href="/login" className="mt-6 inline-block font-medium text-accent hover:underline">
          Go to login
        </Link>
      </div>
    );
  }

  const complete = /^\d+$/.test(code) && code.length === OTP_LENGTH;
  return (
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (complete) void verify(code);
        else setError("Enter all six digits of the code.");
      }}
    >
      <h1 className="text-xl font-semibold">Check your email</h1>
      <p className="mt-1 text-sm text-muted">
        We sent a six-digit code to{" "}
        <span className="font-medium wrap-anywhere text-fg">{email}</span>.{" "}
        {expiresAt === 0 ? (
          "It expires in a few minutes."
        ) : expired ? null : (
          <>
            It expires in{" "}
            <span data-testid="code-expiry" className="font-medium text-fg tabular-nums">
              {lifetime(validFor)}
            </span>
            .
          </>
        )}
      </p>
      {expired ? (
        <p role="alert" data-testid="code-expired" className="mt-2 text-sm font-medium text-danger">
          This code has expired. Ask for a new one with Resend code below.
        </p>
      ) : null}

      <div className="mt-6">
        <OtpInput
          value={code}
          onChange={(value) => {
            setCode(value);
            if (error) setError(null);
          }}
          onComplete={(otp) => void verify(otp)}
          disabled={verifying}
          invalid={Boolean(error)}
          describedBy={error ? errorId : undefined}
          autoFocus
        />
        <FieldError id={errorId}>{error}</FieldError>
        {notice ? (
          <p role="status" className="mt-2 text-sm text-muted">
            {notice}
          </p>
        ) : null}
      </div>

      {devMail ? (
        <a
          href={DEV_MAIL_URL}
          target="_blank"
          rel="noreferrer"
          data-testid="dev-mail-link"
          className="mt-5 flex items-center gap-2 rounded-lg border border-dashed border-border bg-surface-2 px-3 py-2.5 text-sm text-fg hover:border-accent"
        >
          <MailIcon size={16} className="shrink-0 text-accent" />
          <span>
            Development mode: your code is in the{" "}
            <span className="font-medium text-accent underline">dev mailbox</span>.
          </span>
        </a>
      ) : null}

      <Button
        type="submit"
        size="lg"
        className="mt-6 w-full"
        loading={verifying}
        disabled={!complete}
        data-testid="verify-button"
      >
        Verify and log in
      </Button>

      <div className="mt-5 flex items-center justify-between text-sm">
        <Link
          href={`/login?email=${encodeURIComponent(email)}`}
          className="text-muted hover:text-fg hover:underline"
        >
          Use another email
        </Link>
        <Button
          variant="link"
          onClick={resend}
          disabled={left > 0 || resending}
          loading={resending}
          data-testid="resend-button"
        >
          {left > 0 ? `Resend code in ${left}s` : "Resend code"}
        </Button>
      </div>
    </form>
  );
}
