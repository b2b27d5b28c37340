type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | number | EventListener | undefined>;

/** A small element builder: attributes, `on*` listeners, children (text is escaped by the DOM). */
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(el: Element, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

export function time(ts: string): string {
  return new Date(ts).toLocaleTimeString([], { hour12: false });
}

/** Date and time, for lists that span days (order history). */
export function dateTime(ts: string): string {
  return new Date(ts).toLocaleString([], {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  });
}

export type Tone = "ok" | "error" | "fill";

/**
 * A toast in the corner (the live region reads it to screen readers): stays a few seconds, or
 * until closed; several can show at once, so a burst of fills is not reduced to the last one.
 */
export function notify(message: string, kind: Tone = "ok"): void {
  const region = document.getElementById("status");
  if (!region) return;
  const toast = h(
    "div",
    { class: `toast ${kind}`, "data-testid": "toast" },
    h("span", {}, message),
    h("button", { type: "button", class: "link close", "aria-label": "Dismiss", onclick: () => toast.remove() }, "×"),
  );
  region.append(toast);
  while (region.children.length > 4) region.firstElementChild?.remove();
  window.setTimeout(() => toast.remove(), kind === "ok" ? 5000 : 9000);
}
