/**
 * The inspector's DOM helpers: `$` (an element by id), `el` (a new element
 * with its text and class), and the number formats the page shows (bytes,
 * integers, signed differences). The SVG helpers the charts are drawn with
 * are in charts.ts.
 */
export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
export const el = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  cls?: string,
): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};

export function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}
export const fmtInt = (n: number | bigint) => n.toLocaleString("en-US");
export const signed = (n: number, f: (n: number) => string = fmtInt) =>
  n > 0 ? `+${f(n)}` : n < 0 ? `−${f(-n)}` : "±0";
