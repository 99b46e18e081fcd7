"use client";

import { useRouter } from "next/navigation";
import { useEffect } from "react";
import { maybeSignedIn } from "@/lib/session";
import { AppShellSkeleton } from "@/components/app-shell-skeleton";

/** The front door: visitors with a session go to their chats (which checks it), everyone else to login. */
export default function Home() {
  const router = useRouter();
  useEffect(() => {
    router.replace(maybeSignedIn() ? "/chats" : "/login");
  }, [router]);
  return <AppShellSkeleton />;
}
