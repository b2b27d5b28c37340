// The live connection's state in the header: prices that stop moving say so.
import { stream, type Health } from "./stream";

const LABELS: Record<Health["state"], (h: Health) => string> = {
  connecting: () => "Connecting…",
  live: () => "Live",
  reconnecting: () => "Reconnecting…",
  stale: (h) => `Stale (${h.silentS} s)`,
};

export function connectionIndicator(el: HTMLElement): void {
  stream.watch((health) => {
    el.textContent = LABELS[health.state](health);
    el.dataset.state = health.state;
    el.title =
      health.state === "live"
        ? "Prices and orders update live"
        : "Prices and orders on screen may be out of date";
  });
}
