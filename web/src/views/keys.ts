import "../styles/keys.css";
import { api, ApiError, get } from "../api";
import { dateTime, h, notify, replace } from "../dom";
import type { Cleanup } from "../main";

/** An API key as GET /session/api-keys lists it (never its secret). */
interface ApiKey {
  key_id: string;
  label: string;
  account_id: string;
  created_at: string;
  last_used_at: string | null;
}

interface CreatedKey extends ApiKey {
  secret_key: string;
}

function detail(error: unknown): string {
  if (error instanceof ApiError && typeof error.detail === "string") return error.detail;
  return "the request failed; try again";
}

/** API keys for bots (Alpaca's SDK, docs/alpaca.md): create (secret shown once), list, revoke. */
export function viewKeys(root: HTMLElement): Cleanup {
  let closed = false;
  const body = h("tbody", { "data-testid": "api-keys" });
  const secretBox = h("div", { class: "card key-secret", "data-testid": "new-key", hidden: true });
  const label = h("input", { id: "key-label", name: "label", required: true, maxlength: 64, placeholder: "my trading bot" }) as HTMLInputElement;
  const create = h("button", { type: "submit", class: "primary" }, "Create key");

  const load = async () => {
    const keys = await get<ApiKey[]>("/session/api-keys");
    if (closed) return;
    if (keys.length === 0) {
      replace(body, h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No API keys yet.")));
      return;
    }
    replace(
      body,
      ...keys.map((k) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, k.label),
          h("td", {}, h("code", {}, k.key_id)),
          h("td", { class: "hide-s" }, dateTime(k.created_at)),
          h("td", { class: "hide-s" }, k.last_used_at ? dateTime(k.last_used_at) : "never"),
          h("td", {}, h("button", { type: "button", class: "small danger", "aria-label": `Revoke ${k.label}`, onclick: () => void revoke(k) }, "Revoke")),
        ),
      ),
    );
  };

  const revoke = async (key: ApiKey) => {
    if (!confirm(`Revoke "${key.label}"? Bots using it stop at once.`)) return;
    try {
      await api<void>("DELETE", `/session/api-keys/${encodeURIComponent(key.key_id)}`);
      notify(`Key "${key.label}" revoked`);
    } catch (error) {
      notify(`Could not revoke: ${detail(error)}`, "error");
    }
    await load().catch(() => undefined);
  };

  const showSecret = (key: CreatedKey) => {
    const copy = h("button", { type: "button", class: "small" }, "Copy secret");
    copy.addEventListener("click", () => {
      void navigator.clipboard
        .writeText(key.secret_key)
        .then(() => notify("Secret copied"))
        .catch(() => notify("Copy failed: select the secret and copy it", "error"));
    });
    replace(
      secretBox,
      h("p", {}, h("strong", {}, "Store the secret now: it is shown only this once.")),
      h("p", {}, "Key id: ", h("code", { "data-testid": "new-key-id" }, key.key_id)),
      h("p", {}, "Secret: ", h("code", { "data-testid": "new-key-secret" }, key.secret_key), " ", copy),
      h("p", { class: "muted" }, "Send them as APCA-API-KEY-ID and APCA-API-SECRET-KEY, or: TradingClient(key_id, secret, paper=True, url_override=\"", location.origin, "\")"),
    );
    secretBox.hidden = false;
  };

  const form = h(
    "form",
    { class: "key-form" },
    h("label", { for: "key-label" }, "Label"),
    label,
    create,
  ) as HTMLFormElement;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    create.setAttribute("disabled", "");
    void api<CreatedKey>("POST", "/session/api-keys", { label: label.value.trim() })
      .then((key) => {
        label.value = "";
        showSecret(key);
        return load();
      })
      .catch((error: unknown) => notify(`Could not create the key: ${detail(error)}`, "error"))
      .finally(() => create.removeAttribute("disabled"));
  });

  replace(
    root,
    h("h1", {}, "API keys"),
    h("p", { class: "muted" }, "Keys let bots trade your account through the Alpaca-compatible /v2 API."),
    form,
    secretBox,
    h(
      "table",
      { class: "grid" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Label"),
          h("th", { scope: "col" }, "Key id"),
          h("th", { scope: "col", class: "hide-s" }, "Created"),
          h("th", { scope: "col", class: "hide-s" }, "Last used"),
          h("th", { scope: "col" }, h("span", { class: "sr" }, "Actions")),
        ),
      ),
      body,
    ),
  );
  void load().catch(() => undefined);
  return () => {
    closed = true;
  };
}
