/**
 * A benchmark's headline figures, for bench/run.ts (`npm run bench`). The
 * runner names a file in TIDEMARK_BENCH_RESULT; each call merges `figures`
 * into it as one JSON object, so what a bench prints is the same whether it
 * runs alone or under the runner, and a bench that dies halfway leaves the
 * figures it had. Keys are labels with their unit; values are numbers, or
 * a string where a figure is not one number.
 */
import { writeFileSync } from "node:fs";

/** The environment variable naming the file the runner reads after the bench exits. */
export const RESULT_ENV = "TIDEMARK_BENCH_RESULT";

export type Figures = Record<string, number | string>;

const figures: Figures = {};

export function headline(more: Figures): void {
  Object.assign(figures, more);
  const file = process.env[RESULT_ENV];
  if (file) writeFileSync(file, `${JSON.stringify(figures)}\n`);
}

/** `x` rounded to `digits` decimals, as a number (for figures measured in time or memory). */
export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
