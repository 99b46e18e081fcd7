import { Suspense } from "react";
import type { Metadata } from "next";
import { VerifyForm } from "@/components/auth/verify-form";

export const metadata: Metadata = { title: "Enter your code · Parley" };

export default function VerifyPage() {
  return (
    <Suspense fallback={<div className="h-80" aria-busy="true" />}>
      <VerifyForm />
    </Suspense>
  );
}
