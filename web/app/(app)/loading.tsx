import { AppShellSkeleton } from "@/components/app-shell-skeleton";

export default function Loading() {
  return <AppShellSkeleton />;
}
