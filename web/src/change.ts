// Price changes as people read them: "+1.25 (+0.40%)", computed in exact integer cents.
import { fromCents, toCents } from "./money";

/** Hundredths of a percent of `base` that `change` is, rounded half away from zero. */
export function pctHundredths(change: bigint, base: bigint): bigint {
  if (base === 0n) return 0n;
  const scaled = change * 10000n;
  const half = base < 0n ? -base : base;
  return (scaled * 2n + (scaled < 0n ? -half : half)) / (2n * base);
}

export function signedCents(cents: bigint): string {
  return (cents > 0n ? "+" : "") + fromCents(cents);
}

/** "+0.40%" from a 2-place percent string ("0.40", "-1.20"). */
export function signedPct(pct: string | null | undefined): string {
  if (pct == null) return "—";
  const cents = toCents(pct);
  return cents === null ? `${pct}%` : `${signedCents(cents)}%`;
}

export function direction(cents: bigint): "up" | "down" | "" {
  return cents > 0n ? "up" : cents < 0n ? "down" : "";
}

export function arrow(cents: bigint): string {
  return cents > 0n ? "▲" : cents < 0n ? "▼" : "";
}

/** Chart colours from the page's palette (style.css), so a light theme gets light-theme charts. */
export function chartColours(): { text: string; grid: string } {
  const css = getComputedStyle(document.documentElement);
  return {
    text: css.getPropertyValue("--muted").trim() || "#9aa4b2",
    grid: css.getPropertyValue("--line").trim() || "#1f2630",
  };
}
