import { api, ApiError, type Session } from "../api";
import { h, notify, replace } from "../dom";
import type { App, Cleanup } from "../main";

export async function signOut(app: App): Promise<void> {
  await api("POST", "/session/logout");
  app.signedIn(null);
  notify("Signed out");
}

export function viewLogin(root: HTMLElement, app: App): Cleanup {
  let mode: "in" | "up" = "in";
  const render = () => {
    const error = h("p", { class: "error", role: "alert", "data-testid": "auth-error" });
    const field = (name: string, label: string, type: string, extra: Record<string, string> = {}) =>
      h(
        "label",
        {},
        label,
        h("input", { name, type, required: true, autocomplete: extra.autocomplete, ...extra }),
      );
    const form = h(
      "form",
      { class: "card auth", novalidate: true },
      h("h1", {}, mode === "in" ? "Sign in" : "Create an account"),
      mode === "up" &&
        field("username", "User name", "text", {
          autocomplete: "username",
          pattern: "[A-Za-z0-9_.\\-]{3,32}",
          title: "3 to 32 letters, digits, '_', '.' or '-'",
        }),
      field("email", "Email", "email", { autocomplete: "email" }),
      field("password", "Password", "password", {
        autocomplete: mode === "in" ? "current-password" : "new-password",
        minlength: mode === "up" ? "8" : "1",
      }),
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
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!form.checkValidity()) {
        const bad = form.querySelector<HTMLInputElement>(":invalid");
        error.textContent = `${bad?.closest("label")?.firstChild?.textContent}: ${bad?.validationMessage}`;
        bad?.focus();
        return;
      }
      const data = Object.fromEntries(new FormData(form)) as Record<string, string>;
      const button = form.querySelector<HTMLButtonElement>("button[type=submit]")!;
      button.disabled = true;
      try {
        const session = await api<Session>(
          "POST",
          mode === "in" ? "/session/login" : "/session/register",
          data,
        );
        app.signedIn(session);
        notify(`Welcome, ${session.username}`);
      } catch (e) {
        error.textContent = e instanceof ApiError ? e.message : "Could not reach the server";
        button.disabled = false;
      }
    });
    replace(root, form);
    form.querySelector("input")?.focus();
  };
  render();
  return () => undefined;
}
