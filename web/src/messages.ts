// Server refusals in words for people: capitalised, without codes or field paths.
import { ApiError } from "./api";

const FIELDS: Record<string, string> = { email: "Email", username: "User name", password: "Password" };

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** What to tell the user about a failed request. */
export function humanError(e: unknown): string {
  if (!(e instanceof ApiError)) return "Could not reach the server. Check your connection and try again.";
  if (Array.isArray(e.detail)) {
    return e.detail
      .map((d: { loc?: unknown[]; msg?: string }) => {
        const field = String((d.loc ?? []).filter((p) => p !== "body").at(-1) ?? "");
        const msg = String(d.msg ?? "").replace(/^Value error, /, "");
        return sentence(FIELDS[field] ? `${FIELDS[field]}: ${msg.charAt(0).toLowerCase()}${msg.slice(1)}` : msg);
      })
      .join(" ");
  }
  if (typeof e.detail === "string" && e.detail) return sentence(e.detail);
  if (e.status >= 500) return "The server is having trouble right now. Try again in a moment.";
  return sentence(e.error.replace(/_/g, " "));
}
