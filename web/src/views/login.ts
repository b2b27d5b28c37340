import "../styles/market.css";
import { api, type Session } from "../api";
import { h, notify, replace } from "../dom";
import type { App, Cleanup } from "../main";
import { humanError } from "../messages";
import { loadCommonPasswords, rules } from "../password";

export async function signOut(app: App): Promise<void> {
  await api("POST", "/session/logout");
  app.signedIn(null);
  notify("Signed out");
}

/** What a newcomer sees first: what this is and what they get. */
function intro(): HTMLElement {
  return h(
    "section",
    { class: "intro", "data-testid": "intro", "aria-labelledby": "intro-title" },
    h("h1", { id: "intro-title" }, "Paper trading on a real exchange engine"),
    h(
      "p",
      { class: "muted" },
      "stocksim is a practice stock exchange: trade with simulated money, learn how orders fill, and compare yourself with others. No real money, nothing to install.",
    ),
    h(
      "ul",
      {},
      h("li", {}, h("b", {}, "100,000.00"), " in simulated cash when you sign up"),
      h("li", {}, "Live prices that move every second, with charts, order book and trades"),
      h("li", {}, "A real matching engine: market, limit and stop orders, filled by price and time"),
      h("li", {}, "Your portfolio and P&L live, and a public ", h("a", { href: "#/leaderboard" }, "leaderboard")),
    ),
  );
}

export function viewLogin(root: HTMLElement, app: App): Cleanup {
  let mode: "in" | "up" = "in";
  let closed = false;
  const render = () => {
    const error = h("p", { class: "error", role: "alert", "data-testid": "auth-error" });
    const input = (name: string, type: string, extra: Record<string, string> = {}) =>
      h("input", { name, type, required: true, ...extra }) as HTMLInputElement;
    const username = input("username", "text", {
      autocomplete: "username",
      pattern: "[A-Za-z0-9_.\\-]{3,32}",
      title: "3 to 32 letters, digits, '_', '.' or '-'",
    });
    // Sign-in takes an email or a user name in one box; the server tells them apart by the '@'.
    const email =
      mode === "in"
        ? input("email", "text", { autocomplete: "username", autocapitalize: "none", spellcheck: "false" })
        : input("email", "email", { autocomplete: "email" });
    const password = input("password", "password", {
      autocomplete: mode === "in" ? "current-password" : "new-password",
      "aria-describedby": "password-rules",
    });
    const checklist = h("ul", { class: "rules", id: "password-rules", "data-testid": "password-rules", "aria-live": "polite" });
    let common: Set<string> | null = null;
    const paintRules = () => {
      const list = rules(password.value, username.value, email.value, common);
      replace(
        checklist,
        ...list.map((r) =>
          h("li", { class: password.value ? (r.ok === null ? "" : r.ok ? "ok" : "bad") : "" }, r.text),
        ),
      );
      return list;
    };
    const form = h(
      "form",
      { class: "card auth", novalidate: true },
      h("h2", {}, mode === "in" ? "Sign in" : "Create an account"),
      mode === "up" && h("label", {}, "User name", username),
      h("label", {}, mode === "in" ? "Email or user name" : "Email", email),
      h("label", {}, "Password", password),
      mode === "up" && checklist,
      error,
      h("button", { type: "submit", class: "primary" }, mode === "in" ? "Sign in" : "Sign up"),
      h(
        "button",
        {
          type: "button",
          class: "link",
          onclick: () => {
            mode = mode === "in" ? "up" : "in";
            render();
          },
        },
        mode === "in" ? "New here? Create an account" : "Have an account? Sign in",
      ),
    ) as HTMLFormElement;
    if (mode === "up") {
      paintRules();
      form.addEventListener("input", () => void paintRules());
      void loadCommonPasswords()
        .then((list) => {
          common = list;
          if (!closed) paintRules();
        })
        .catch(() => undefined); // the server checks it anyway
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!form.checkValidity()) {
        const bad = form.querySelector<HTMLInputElement>(":invalid");
        error.textContent = `${bad?.closest("label")?.firstChild?.textContent}: ${bad?.validationMessage}`;
        bad?.focus();
        return;
      }
      if (mode === "up") {
        const broken = paintRules().find((r) => r.ok === false);
        if (broken) {
          error.textContent = `Password: ${broken.text.charAt(0).toLowerCase()}${broken.text.slice(1)}.`;
          password.focus();
          return;
        }
      }
      const data = Object.fromEntries(new FormData(form)) as Record<string, string>;
      const button = form.querySelector<HTMLButtonElement>("button[type=submit]")!;
      button.disabled = true;
      error.textContent = "";
      try {
        const session = await api<Session>("POST", mode === "in" ? "/session/login" : "/session/register", data);
        app.signedIn(session);
        notify(`Welcome, ${session.username}`);
      } catch (e) {
        error.textContent = humanError(e);
        button.disabled = false;
      }
    });
    replace(root, h("div", { class: "welcome" }, intro(), form));
    form.querySelector("input")?.focus();
  };
  render();
  return () => {
    closed = true;
  };
}
