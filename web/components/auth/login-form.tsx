"use client";

import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useEffect, useId, useState } from "react";
import * as api from "@/lib/api";
import { OTP_RESEND_SECONDS } from "@/lib/config";
import { describeError, isApiError } from "@/lib/errors";
import { safeNext } from "@/lib/redirect";
import {
  dropLegacyToken,
  forgetSession,
  maybeSignedIn,
  rememberCodeSent,
  subscribeSession,
} from "@/lib/session";
import { Button } from "@/components/ui/button";
import { FieldError, Input, Label } from "@/components/ui/input";

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function verifyHref(email: string, next: string | null): string {
  const params = new URLSearchParams({ email });
  if (next) params.set("next", next);
  return `/verify?${params.toString()}`;
}

export function LoginForm() {
  const router = useRouter();
  const params = useSearchParams();
  const next = params.get("next");
  const [email, setEmail] = useState(params.get("email") ?? "");
  const [error, setError] = useState<string | null>(null);
  const [alreadySent, setAlreadySent] = useState(false);
  const [submitting, setSubmitting] = useState(false);
  const errorId = useId();

  // Already signed in: straight on. Without a session cookie there is nothing to ask the server.
  useEffect(() => {
    dropLegacyToken();
    if (!maybeSignedIn()) return;
    const controller = new AbortController();
    api
      .me(controller.signal, { quiet: true })
      .then(() => router.replace(safeNext(next, window.location.origin)))
      .catch((err: unknown) => {
        if (isApiError(err, 401)) forgetSession();
      });
    return () => controller.abort();
  }, [router, next]);

  // Logged in from another tab meanwhile: this one goes on too.
  useEffect(
    () =>
      subscribeSession((change) => {
        if (change === "signed-in") router.replace(safeNext(next, window.location.origin));
      }),
    [router, next],
  );

  async function onSubmit(event: React.FormEvent) {
    event.preventDefault();
    const address = email.trim().toLowerCase();
    setAlreadySent(false);
    if (!EMAIL_RE.test(address)) {
      setError("Please enter a valid email address.");
      return;
    }
    setError(null);
    setSubmitting(true);
    try {
      const sent = await api.login(address);
      const now = Date.now();
      rememberCodeSent(address, now + sent.resendIn * 1000, now + sent.expiresIn * 1000);
      router.push(verifyHref(address, next));
    } catch (err) {
      if (isApiError(err, 429)) {
        const wait = err.retryAfter ?? OTP_RESEND_SECONDS;
        rememberCodeSent(address, Date.now() + wait * 1000);
        setAlreadySent(true);
      }
      setError(describeError(err, "login"));
      setSubmitting(false);
    }
  }

  const address = email.trim().toLowerCase();
  return (
    <form onSubmit={onSubmit} noValidate>
      <h1 className="text-xl font-semibold">Log in to Parley</h1>
      <p className="mt-1 text-sm text-muted">Enter your email and we&apos;ll send you a code.</p>
      <div className="mt-6">
        <Label htmlFor="email">Email address</Label>
        <Input
          id="email"
          data-testid="email-input"
          type="email"
          name="email"
          autoComplete="email"
          inputMode="email"
          autoCapitalize="none"
          spellCheck={false}
          autoFocus
          required
          placeholder="you@example.com"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? errorId : undefined}
          className="h-11 text-base sm:text-sm"
        />
        <FieldError id={errorId}>{error}</FieldError>
        {alreadySent ? (
          <p className="mt-2 text-sm">
            <Link
              className="font-medium text-accent hover:underline"
              href={verifyHref(address, next)}
            >
              Enter the code you already received
            </Link>
          </p>
        ) : null}
      </div>
      <Button
        type="submit"
        size="lg"
        className="mt-6 w-full"
        loading={submitting}
        data-testid="send-code-button"
      >
        Send code
      </Button>
    </form>
  );
}
