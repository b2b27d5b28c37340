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

/** Announces a short message to everyone (also read by screen readers). */
export function notify(message: string, kind: "ok" | "error" = "ok"): void {
  const status = document.getElementById("status");
  if (!status) return;
  status.textContent = message;
  status.className = `status show ${kind}`;
  window.clearTimeout(Number(status.dataset.timer));
  status.dataset.timer = String(window.setTimeout(() => (status.className = "status"), 4000));
}
