// Problems that concern the whole screen (a failed load, a lost session) as banners above it,
// with a way out (Retry), instead of a blank or half-drawn screen.
import { h } from "./dom";

export interface BannerOptions {
  tone?: "error" | "info";
  retry?: () => void;
}

function region(): HTMLElement | null {
  return document.getElementById("banners");
}

export function showBanner(key: string, message: string, options: BannerOptions = {}): void {
  const root = region();
  if (!root) return;
  const tone = options.tone ?? "error";
  const banner = h(
    "div",
    { class: `banner ${tone}`, role: tone === "error" ? "alert" : "status", "data-banner": key, "data-testid": "banner" },
    h("span", {}, message),
    options.retry &&
      h("button", { type: "button", class: "small", onclick: () => (clearBanner(key), options.retry?.()) }, "Retry"),
  );
  const old = root.querySelector(`[data-banner="${CSS.escape(key)}"]`);
  if (old) old.replaceWith(banner);
  else root.append(banner);
}

export function clearBanner(key: string): void {
  region()?.querySelector(`[data-banner="${CSS.escape(key)}"]`)?.remove();
}

/** Clears every banner whose key starts with `prefix` (e.g. all failed loads of the last screen). */
export function clearBanners(prefix: string): void {
  for (const el of region()?.querySelectorAll<HTMLElement>("[data-banner]") ?? []) {
    if (el.dataset.banner?.startsWith(prefix)) el.remove();
  }
}
