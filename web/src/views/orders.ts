import { api, ApiError, get, type Order } from "../api";
import { dateTime, h, notify, replace } from "../dom";
import type { Cleanup } from "../main";
import { money, toCents } from "../money";
import { stream } from "../stream";

const label = (o: Order) => o.type.replace("_", "-");
const what = (o: Order) => `${o.side} ${label(o)} ${o.symbol}`;

function prices(o: Order): string {
  const parts = [];
  if (o.stop_price) parts.push(`stop ${money(o.stop_price)}`);
  if (o.limit_price) parts.push(`limit ${money(o.limit_price)}`);
  return parts.join(" / ") || "market";
}

/** A cell that, on a phone, becomes a labelled line of a card (style.css: .cards). */
const cell = (tag: "td" | "th", heading: string, attrs: Record<string, string>, ...children: (Node | string | null | false)[]) =>
  h(tag, { ...attrs, "data-label": heading }, ...children);

interface OpenRow {
  tr: HTMLElement;
  /** New data for the order; an open Modify form keeps what is typed in it. */
  update(o: Order): void;
  editing(): boolean;
}

/** Cancel and modify for one open order; `changed` reloads the lists. */
function openRow(first: Order, changed: () => void): OpenRow {
  let o = first;
  const tr = h("tr", { "data-order-id": o.id });
  let editing: { status: HTMLElement; save: HTMLButtonElement } | null = null;
  const cells = () => [
    cell("td", "Time", {}, dateTime(o.created_at)),
    cell("th", "Symbol", { scope: "row" }, h("a", { href: `#/symbol/${o.symbol}` }, o.symbol)),
    cell("td", "Side", { class: o.side }, o.side),
    cell("td", "Type", {}, `${label(o)} ${o.time_in_force.toUpperCase()}`),
    cell("td", "Filled", { class: "num" }, `${o.filled_qty}/${o.qty}`),
    cell("td", "Price", { class: "num" }, prices(o)),
    cell("td", "Status", {}, o.status.replace("_", " ")),
    actions(),
  ];
  const show = () => {
    editing = null;
    replace(tr, ...cells());
  };
  const cancel = async (button: HTMLButtonElement) => {
    button.disabled = true;
    try {
      await api("DELETE", `/orders/${o.id}`);
      changed();
    } catch (e) {
      notify(e instanceof ApiError ? `Not canceled: ${e.message}` : "Cancel failed", "error");
      button.disabled = false;
    }
  };
  const progress = () => `${o.filled_qty} of ${o.qty} filled, ${o.status.replace("_", " ")}`;
  const modify = () => {
    const error = h("span", { class: "error", role: "alert" });
    const status = h("span", { class: "muted", "data-testid": "modify-progress" }, progress());
    const input = (name: string, value: string, text: string, mode: string) =>
      h("label", { class: "inline" }, text, h("input", { name, value, inputmode: mode, autocomplete: "off" }));
    const save = h("button", { type: "submit", class: "primary small" }, "Save") as HTMLButtonElement;
    const back = () => {
      const over = o.status !== "new" && o.status !== "partially_filled";
      show();
      tr.querySelector<HTMLButtonElement>("button.modify")?.focus();
      if (over) changed(); // the row leaves the open list now
    };
    const form = h(
      "form",
      { class: "modify", "aria-label": `Modify ${what(o)}`, "data-testid": "modify-form" },
      h("strong", { class: "modify-title" }, `Modify ${o.side} ${label(o)} ${o.symbol}`),
      status,
      input("qty", String(o.qty), "Qty", "numeric"),
      o.limit_price && input("limit_price", o.limit_price, "Limit", "decimal"),
      o.stop_price && input("stop_price", o.stop_price, "Stop", "decimal"),
      save,
      h("button", { type: "button", class: "small", onclick: back }, "Back"),
      error,
    ) as HTMLFormElement;
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") back();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const data = Object.fromEntries(new FormData(form)) as Record<string, string>;
      const body: Record<string, string | number> = {};
      if (!/^\s*\d+\s*$/.test(data.qty) || Number(data.qty) < 1) {
        error.textContent = "Quantity must be a whole number of shares";
        return;
      }
      if (Number(data.qty) !== o.qty) body.qty = Number(data.qty);
      for (const key of ["limit_price", "stop_price"] as const) {
        if (data[key] === undefined) continue;
        const cents = toCents(data[key]);
        if (cents === null || cents <= 0n) {
          error.textContent = `${key === "limit_price" ? "Limit" : "Stop"} price must be positive with at most 2 decimals`;
          return;
        }
        if (cents !== toCents(o[key] ?? "")) body[key] = data[key].trim();
      }
      if (!Object.keys(body).length) {
        error.textContent = "Nothing changed";
        return;
      }
      save.disabled = true;
      save.textContent = "Saving…";
      try {
        await api("PATCH", `/orders/${o.id}`, body);
        notify(`Modified: ${what(o)}`);
        show();
        changed();
      } catch (e) {
        error.textContent = e instanceof ApiError ? `Not modified: ${e.message}` : "Modify failed";
        save.disabled = false;
        save.textContent = "Save";
      }
    });
    editing = { status, save };
    replace(tr, h("td", { colspan: 8, class: "editing" }, form));
    form.querySelector("input")?.focus();
  };
  const actions = () => {
    const cancelButton = h("button", { type: "button", class: "small danger", "aria-label": `Cancel ${what(o)}` }, "Cancel") as HTMLButtonElement;
    cancelButton.addEventListener("click", () => void cancel(cancelButton));
    return cell(
      "td",
      "",
      { class: "actions" },
      h("button", { type: "button", class: "small modify", "aria-label": `Modify ${what(o)}`, onclick: modify }, "Modify"),
      cancelButton,
    );
  };
  show();
  return {
    tr,
    update(next) {
      o = next;
      if (!editing) return show();
      // Keep the form and what is typed in it; say what changed.
      const over = o.status !== "new" && o.status !== "partially_filled";
      editing.status.textContent = over ? `${progress()}: nothing left to modify` : progress();
      editing.save.disabled = over;
    },
    editing: () => editing !== null,
  };
}

function historyRow(o: Order): HTMLElement {
  return h(
    "tr",
    { "data-order-id": o.id, "data-updated": o.updated_at },
    cell("td", "Time", {}, dateTime(o.updated_at)),
    cell("th", "Symbol", { scope: "row" }, o.symbol),
    cell("td", "Side", { class: o.side }, o.side),
    cell("td", "Type", {}, label(o)),
    cell("td", "Filled", { class: "num" }, `${o.filled_qty}/${o.qty}`),
    // Only what the fills averaged: an unfilled order's limit is no price anyone got.
    cell("td", "Avg price", { class: "num" }, o.filled_qty ? money(o.filled_avg_price) : "—"),
    cell(
      "td",
      "Status",
      {},
      o.status.replace("_", " "),
      o.reject_reason && h("small", { class: "muted" }, ` (${o.reject_reason})`),
    ),
    cell("td", "Fills", { class: "fills" }, o.fills.map((f) => `${f.qty} @ ${money(f.price)}`).join(", ") || "—"),
  );
}

function table(testid: string, caption: string, heads: string[], body: HTMLElement): HTMLElement {
  return h(
    "table",
    { class: "grid cards", "data-testid": testid },
    h("caption", { class: "sr" }, caption),
    h("thead", {}, h("tr", {}, ...heads.map((t) => h("th", { scope: "col" }, t || h("span", { class: "sr" }, "Actions"))))),
    body,
  );
}

/** Puts `rows` into `body` in order, moving only what is out of place (focus and input stay). */
function reconcile(body: HTMLElement, rows: HTMLElement[]): void {
  rows.forEach((row, i) => {
    if (body.children[i] !== row) body.insertBefore(row, body.children[i] ?? null);
  });
  while (body.children.length > rows.length) body.lastElementChild?.remove();
}

const newestFirst = (a: Order, b: Order) => Date.parse(b.updated_at) - Date.parse(a.updated_at);

export function viewOrders(root: HTMLElement): Cleanup {
  const open = h("tbody");
  const history = h("tbody");
  const rows = new Map<string, OpenRow>();
  let openCount = 0;
  const cancelAll = h("button", { type: "button", class: "small danger", "data-testid": "cancel-all", disabled: true }, "Cancel all") as HTMLButtonElement;
  const dialog = h("dialog", { class: "confirm", "aria-labelledby": "cancel-all-title", "data-testid": "cancel-all-dialog" }) as HTMLDialogElement;
  cancelAll.addEventListener("click", () => {
    const n = openCount;
    const yes = h("button", { type: "button", class: "primary sell" }, `Cancel ${n} ${n === 1 ? "order" : "orders"}`) as HTMLButtonElement;
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await api("DELETE", "/orders");
        dialog.close();
        load();
      } catch (e) {
        dialog.close();
        notify(e instanceof ApiError ? `Not canceled: ${e.message}` : "Cancel failed", "error");
      }
    });
    replace(
      dialog,
      h("h2", { id: "cancel-all-title" }, `Cancel all ${n} open ${n === 1 ? "order" : "orders"}?`),
      h("p", {}, "Orders already partly filled keep their fills."),
      h("div", { class: "buttons" }, yes, h("button", { type: "button", onclick: () => dialog.close() }, "Keep them")),
    );
    dialog.showModal();
    yes.focus();
  });
  replace(
    root,
    h("div", { class: "row-between" }, h("h1", {}, "Orders"), cancelAll),
    h("h2", {}, "Open"),
    table("open-orders", "Open orders", ["Time", "Symbol", "Side", "Type", "Filled", "Price", "Status", ""], open),
    h("h2", {}, "History"),
    table("order-history", "Order history, newest first", ["Time", "Symbol", "Side", "Type", "Filled", "Avg price", "Status", "Fills"], history),
    dialog,
  );
  const empty = h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No open orders."));
  let pending = 0;
  let closed = false;
  const load = () => {
    window.clearTimeout(pending);
    pending = window.setTimeout(async () => {
      let o: Order[], c: Order[];
      try {
        [o, c] = await Promise.all([
          get<Order[]>("/orders?status=open&limit=200"),
          get<Order[]>("/orders?status=closed&limit=100"),
        ]);
      } catch {
        return; // the banner (main.ts) says what failed and offers Retry
      }
      if (closed) return;
      // A Modify form stays open on an order that just closed, saying so, until "Back".
      const done = new Map(c.map((x) => [x.id, x]));
      for (const [id, row] of rows) {
        const gone = done.get(id);
        if (gone && row.editing()) o.push(gone);
      }
      const keep = new Set(o.map((x) => x.id));
      for (const id of rows.keys()) if (!keep.has(id)) rows.delete(id);
      o.sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
      const list = o.map((x) => {
        const row = rows.get(x.id);
        if (row) {
          row.update(x);
          return row.tr;
        }
        const made = openRow(x, load);
        rows.set(x.id, made);
        return made.tr;
      });
      reconcile(open, list.length ? list : [empty]);
      openCount = o.filter((x) => x.status === "new" || x.status === "partially_filled").length;
      cancelAll.disabled = !openCount;
      replace(history, ...c.sort(newestFirst).map(historyRow));
    }, 50);
  };
  load();
  const off = stream.on("order", load);
  const unsubscribe = stream.subscribe(["orders"]);
  return () => {
    closed = true;
    off();
    unsubscribe();
    window.clearTimeout(pending);
  };
}
