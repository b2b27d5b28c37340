// My accounts: the personal one and one per league; which one the page acts on; join; reset.
import { activeAccount, api, get } from "../api";
import { h, notify, replace } from "../dom";
import type { Cleanup } from "../main";
import { money } from "../money";
import { stream } from "../stream";

export interface Account {
  id: string;
  league_id: string | null;
  league_name: string | null;
  cash: string;
  reserved_cash: string;
  buying_power: string;
  frozen: boolean;
  reset_count: number;
  reset_at: string | null;
}

const STORE = "stocksim.account";

/** Back to the account chosen earlier in this tab (main.ts calls it once signed in). */
export function restoreAccount(): void {
  activeAccount.id = sessionStorage.getItem(STORE);
}

/** A sign-in or sign-out: the next user starts on their personal account. */
export function forgetAccount(): void {
  activeAccount.id = null;
  sessionStorage.removeItem(STORE);
}

/** Acting on another account: API calls send its id; the stream reconnects for its channels. */
export function useAccount(id: string | null): void {
  activeAccount.id = id;
  if (id) sessionStorage.setItem(STORE, id);
  else sessionStorage.removeItem(STORE);
  stream.start();
}

export function accountName(a: Account): string {
  return a.league_id ? (a.league_name ?? "League") : "Personal";
}

export function viewAccounts(root: HTMLElement): Cleanup {
  const body = h("tbody");
  const code = h("input", { id: "invite-code", name: "invite_code", required: true, maxlength: 64, autocomplete: "off", "data-testid": "invite-code" }) as HTMLInputElement;
  const join = h(
    "form",
    {
      class: "inline",
      onsubmit: (event: Event) => {
        event.preventDefault();
        void api<Account>("POST", "/leagues/join", { invite_code: code.value.trim() })
          .then((account) => {
            notify(`Joined ${accountName(account)}`);
            code.value = "";
            void load();
          })
          .catch((error: Error) => notify(error.message, "error"));
      },
    },
    h("label", { for: "invite-code" }, "Join a league with its invite code "),
    code,
    h("button", { type: "submit" }, "Join"),
  );
  replace(
    root,
    h("h1", {}, "My accounts"),
    h("p", { class: "muted" }, "Orders, portfolio and the live stream act on the active account."),
    h(
      "table",
      { class: "grid", "data-testid": "accounts" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Account"),
          h("th", { scope: "col", class: "num" }, "Cash"),
          h("th", { scope: "col", class: "num" }, "Buying power"),
          h("th", { scope: "col" }, ""),
        ),
      ),
      body,
    ),
    join,
  );
  let closed = false;
  const reset = (a: Account) => {
    if (!window.confirm(`Reset ${accountName(a)}? Open orders are canceled, positions sold back, cash restored.`)) return;
    void api<Account>("POST", `/accounts/${a.id}/reset`)
      .then(() => {
        notify(`${accountName(a)} reset`);
        void load();
      })
      .catch((error: Error) => notify(error.message, "error"));
  };
  const load = async () => {
    const accounts = await get<Account[]>("/accounts");
    if (closed) return;
    const active = activeAccount.id ?? accounts.find((a) => !a.league_id)?.id;
    replace(
      body,
      ...accounts.map((a) => {
        const current = a.id === active;
        return h(
          "tr",
          { class: current ? "me" : "", "aria-current": current ? "true" : undefined },
          h("th", { scope: "row" }, accountName(a), a.frozen ? " (removed)" : "", a.league_id ? " " : "", a.league_id ? h("a", { href: `#/leagues/${a.league_id}` }, "standings") : null),
          h("td", { class: "num" }, money(a.cash)),
          h("td", { class: "num" }, money(a.buying_power)),
          h(
            "td",
            {},
            current
              ? h("span", { class: "muted" }, "active")
              : h("button", { type: "button", "data-testid": "use-account", onclick: () => { useAccount(a.league_id ? a.id : null); void load(); } }, "Use"),
            " ",
            h("button", { type: "button", class: "link", onclick: () => reset(a) }, "Reset"),
          ),
        );
      }),
    );
  };
  void load().catch(() => undefined);
  return () => {
    closed = true;
  };
}
