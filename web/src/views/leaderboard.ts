import "../styles/market.css";
import { get, type Leader, type Session } from "../api";
import { h, replace } from "../dom";
import type { Cleanup } from "../main";
import { standingRow, standingsTable } from "./standings";

// Narrow screens drop the count of symbols held.
const COUNT_CLASS = "num hide-s";

export function viewLeaderboard(root: HTMLElement): Cleanup {
  const body = h("tbody");
  const invite = h("p", { class: "muted", "data-testid": "leaderboard-invite", hidden: true }, h("a", { href: "#/login" }, "Sign in"), " or create an account to trade and join the board.");
  replace(
    root,
    h("h1", {}, "Leaderboard"),
    h("p", { class: "muted" }, "Total equity at the latest prices; return since the start."),
    invite,
    standingsTable("leaderboard", "Symbols", COUNT_CLASS, body),
  );
  // The board is public: who is looking decides which row is "you" and whether to invite.
  let me: string | null = null;
  let closed = false;
  void get<Session | null>("/session")
    .then((session) => {
      if (closed) return;
      me = session?.username.toLowerCase() ?? null;
      invite.hidden = session !== null;
      void load();
    })
    .catch(() => undefined);
  const load = async () => {
    const leaders = await get<Leader[]>("/leaderboard?limit=100");
    if (closed) return;
    replace(
      body,
      ...leaders.map((l) => {
        const mine = me !== null && l.name.toLowerCase() === me;
        return standingRow({ ...l, count: l.positions }, COUNT_CLASS, {
          class: mine ? "me" : "",
          "aria-current": mine ? "true" : undefined,
          "data-testid": mine ? "my-rank" : undefined,
        });
      }),
    );
  };
  void load().catch(() => undefined);
  // Equity moves with every price: a wall display refreshes itself.
  const timer = window.setInterval(() => void load().catch(() => undefined), 5000);
  return () => {
    closed = true;
    window.clearInterval(timer);
  };
}
