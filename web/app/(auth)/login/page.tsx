import { Suspense } from "react";
import type { Metadata } from "next";
import { LoginForm } from "@/components/auth/login-form";

export const metadata: Metadata = { title: "Log in · Parley" };

export default function LoginPage() {
  return (
    <Suspense fallback={<div className="h-64" aria-busy="true" />}>
      <LoginForm />
    </Suspense>
  );
}
