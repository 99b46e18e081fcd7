import { defineConfig, globalIgnores } from "eslint/config";
import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";
import prettier from "eslint-config-prettier/flat";

// Next's recommended rules (React, hooks, accessibility, Core Web Vitals) with
// TypeScript; Prettier owns formatting, so its conflicting rules are off.
export default defineConfig([
  ...nextVitals,
  ...nextTs,
  prettier,
  {
    rules: {
      // These two rules prepare code for the React Compiler, which this app
      // does not use; its effects load data and sync refs on purpose.
      "react-hooks/set-state-in-effect": "off",
      "react-hooks/refs": "off",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
    },
  },
  globalIgnores([
    ".next/**",
    "out/**",
    "node_modules/**",
    "next-env.d.ts",
    "lib/api-types.gen.ts",
    "lib/socket-types.gen.ts",
  ]),
]);
