import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    alias: { "@": fileURLToPath(new URL(".", import.meta.url)) },
  },
  test: {
    environment: "node",
    include: ["tests/**/*.test.ts"],
    // Day grouping depends on the local calendar; pin it so results do not
    // depend on the machine running the tests.
    env: { TZ: "UTC" },
  },
});
