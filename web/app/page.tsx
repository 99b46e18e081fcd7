"use client";

import { useRouter } from "next/navigation";
import { useEffect } from "react";
import { getToken } from "@/lib/session";
import { AppShellSkeleton } from "@/components/app-shell-skeleton";

/** The front door: signed-in visitors go to their chats, everyone else to login. */
export default function Home() {
  const router = useRouter();
  useEffect(() => {
    router.replace(getToken() ? "/chats" : "/login");
  }, [router]);
  return <AppShellSkeleton />;
}
