import { api, ApiError, get, type Order } from "../api";
import { h, notify, replace, time } from "../dom";
import type { Cleanup } from "../main";
import { money, toCents } from "../money";
import { stream } from "../stream";

const label = (o: Order) => o.type.replace("_", "-");

function prices(o: Order): string {
  const parts = [];
  if (o.stop_price) parts.push(`stop ${money(o.stop_price)}`);
  if (o.limit_price) parts.push(`limit ${money(o.limit_price)}`);
  return parts.join(" / ") || "market";
}

/** Cancel and modify for one open order; `changed` reloads the lists. */
function openRow(o: Order, changed: () => void): HTMLElement {
  const tr = h("tr", { "data-order-id": o.id });
  const cells = () => [
    h("td", {}, time(o.created_at)),
    h("th", { scope: "row" }, h("a", { href: `#/symbol/${o.symbol}` }, o.symbol)),
    h("td", { class: o.side }, o.side),
    h("td", {}, `${label(o)} ${o.time_in_force.toUpperCase()}`),
    h("td", { class: "num" }, `${o.filled_qty}/${o.qty}`),
    h("td", { class: "num" }, prices(o)),
    h("td", {}, o.status.replace("_", " ")),
  ];
  const cancel = async () => {
    try {
      await api("DELETE", `/orders/${o.id}`);
      notify(`Canceled ${o.side} ${o.qty} ${o.symbol}`);
      changed();
    } catch (e) {
      notify(e instanceof ApiError ? e.message : "Cancel failed", "error");
    }
  };
  const modify = () => {
    const error = h("span", { class: "error", role: "alert" });
    const input = (name: string, value: string, text: string) =>
      h("label", { class: "inline" }, text, h("input", { name, value, inputmode: "decimal", size: 8 }));
    const form = h(
      "form",
      { class: "modify" },
      input("qty", String(o.qty), "Qty"),
      o.limit_price && input("limit_price", o.limit_price, "Limit"),
      o.stop_price && input("stop_price", o.stop_price, "Stop"),
      h("button", { type: "submit", class: "primary small" }, "Save"),
      h("button", { type: "button", class: "small", onclick: () => replace(tr, ...cells(), actions()) }, "Back"),
      error,
    ) as HTMLFormElement;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form)) as Record<string, string>;
      const body: Record<string, string | number> = {};
      if (!/^\d+$/.test(data.qty) || Number(data.qty) < 1) {
        error.textContent = "Quantity must be a whole number of shares";
        return;
      }
      if (Number(data.qty) !== o.qty) body.qty = Number(data.qty);
      for (const key of ["limit_price", "stop_price"] as const) {
        if (data[key] === undefined) continue;
        const cents = toCents(data[key]);
        if (cents === null || cents <= 0n) {
          error.textContent = `${key.replace("_", " ")} must be a positive price with at most 2 decimals`;
          return;
        }
        if (cents !== toCents(o[key] ?? "")) body[key] = data[key].trim();
      }
      if (!Object.keys(body).length) {
        error.textContent = "Nothing changed";
        return;
      }
      try {
        await api("PATCH", `/orders/${o.id}`, body);
        notify("Order modified");
        changed();
      } catch (e) {
        error.textContent = e instanceof ApiError ? e.message : "Modify failed";
      }
    });
    replace(tr, h("td", { colspan: 8 }, form));
    form.querySelector("input")?.focus();
  };
  const actions = () =>
    h(
      "td",
      { class: "actions" },
      h("button", { type: "button", class: "small", onclick: modify }, "Modify"),
      h("button", { type: "button", class: "small danger", onclick: () => void cancel() }, "Cancel"),
    );
  replace(tr, ...cells(), actions());
  return tr;
}

function historyRow(o: Order): HTMLElement {
  return h(
    "tr",
    { "data-order-id": o.id },
    h("td", {}, time(o.updated_at)),
    h("th", { scope: "row" }, o.symbol),
    h("td", { class: o.side }, o.side),
    h("td", {}, label(o)),
    h("td", { class: "num" }, `${o.filled_qty}/${o.qty}`),
    h("td", { class: "num" }, o.filled_avg_price ? money(o.filled_avg_price) : prices(o)),
    h(
      "td",
      {},
      o.status.replace("_", " "),
      o.reject_reason && h("small", { class: "muted" }, ` (${o.reject_reason})`),
    ),
    h(
      "td",
      { class: "fills hide-s" },
      o.fills.map((f) => `${f.qty} @ ${money(f.price)}`).join(", ") || "—",
    ),
  );
}

function table(testid: string, heads: string[], body: HTMLElement): HTMLElement {
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { class: "grid", "data-testid": testid },
      h("thead", {}, h("tr", {}, ...heads.map((t) => h("th", { scope: "col", class: t === "Fills" ? "hide-s" : "" }, t)))),
      body,
    ),
  );
}

export function viewOrders(root: HTMLElement): Cleanup {
  const open = h("tbody");
  const history = h("tbody");
  const cancelAll = h("button", { type: "button", class: "small danger" }, "Cancel all");
  cancelAll.addEventListener("click", async () => {
    await api("DELETE", "/orders");
    notify("Canceled all open orders");
    load();
  });
  replace(
    root,
    h("div", { class: "row-between" }, h("h1", {}, "Orders"), cancelAll),
    h("h2", {}, "Open"),
    table("open-orders", ["Time", "Symbol", "Side", "Type", "Filled", "Price", "Status", ""], open),
    h("h2", {}, "History"),
    table("order-history", ["Time", "Symbol", "Side", "Type", "Filled", "Avg price", "Status", "Fills"], history),
  );
  let pending = 0;
  const load = () => {
    window.clearTimeout(pending);
    pending = window.setTimeout(async () => {
      const [o, c] = await Promise.all([
        get<Order[]>("/orders?status=open&limit=200"),
        get<Order[]>("/orders?status=closed&limit=100"),
      ]);
      replace(open, ...(o.length ? o.map((x) => openRow(x, load)) : [h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No open orders."))]));
      replace(history, ...c.map(historyRow));
    }, 50);
  };
  load();
  const off = stream.on("order", load);
  const unsubscribe = stream.subscribe(["orders"]);
  return () => {
    off();
    unsubscribe();
    window.clearTimeout(pending);
  };
}
