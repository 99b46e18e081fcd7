import { Spinner } from "@/components/ui/spinner";

export default function Loading() {
  return (
    <div className="flex h-48 items-center justify-center text-muted">
      <Spinner label="Loading" />
    </div>
  );
}
