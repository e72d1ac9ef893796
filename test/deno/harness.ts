import type { Harness } from "../support/harness.ts";

declare const Deno: {
  test(def: {
    name: string;
    fn: () => Promise<void>;
    sanitizeResources?: boolean;
    sanitizeOps?: boolean;
  }): void;
  env: { get(name: string): string | undefined };
};

/** The shared-suite harness for `deno test`: names are prefixed with the suite. */
export function denoHarness(suite: string): Harness {
  return {
    test: (name, fn) =>
      Deno.test({ name: `${suite} > ${name}`, fn, sanitizeResources: false, sanitizeOps: false }),
  };
}

/** Reads an environment variable under Deno. */
export function denoEnv(name: string): string | undefined {
  return Deno.env.get(name);
}
