import { get, type Leader } from "../api";
import { h, replace } from "../dom";
import type { Cleanup } from "../main";
import { money, signClass } from "../money";

export function viewLeaderboard(root: HTMLElement): Cleanup {
  const body = h("tbody");
  replace(
    root,
    h("h1", {}, "Leaderboard"),
    h("p", { class: "muted" }, "Total equity at the latest prices; return since the start."),
    h(
      "table",
      { class: "grid", "data-testid": "leaderboard" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col", class: "num" }, "#"),
          h("th", { scope: "col" }, "Trader"),
          h("th", { scope: "col", class: "num" }, "Equity"),
          h("th", { scope: "col", class: "num" }, "Return"),
          h("th", { scope: "col", class: "num hide-s" }, "Symbols"),
        ),
      ),
      body,
    ),
  );
  const load = async () => {
    const leaders = await get<Leader[]>("/leaderboard?limit=100");
    replace(
      body,
      ...leaders.map((l) =>
        h(
          "tr",
          {},
          h("td", { class: "num" }, String(l.rank)),
          h("th", { scope: "row" }, l.name),
          h("td", { class: "num" }, money(l.equity)),
          h("td", { class: `num ${signClass(l.return_pct)}` }, `${money(l.return_pct)}%`),
          h("td", { class: "num hide-s" }, String(l.positions)),
        ),
      ),
    );
  };
  void load();
  // Equity moves with every price: a wall display refreshes itself.
  const timer = window.setInterval(() => void load(), 5000);
  return () => window.clearInterval(timer);
}
