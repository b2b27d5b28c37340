// The sign-up password policy as the user service applies it (user_service/password_policy.py),
// shown live while typing. The common-password list is the server's own file, fetched as a
// separate chunk only when someone opens the sign-up form.

export const MIN_LENGTH = 10;

let common: Promise<Set<string>> | null = null;

export function loadCommonPasswords(): Promise<Set<string>> {
  common ??= import("../../user_service/common_passwords.txt?raw").then(
    (m: { default: string }) => new Set(m.default.split("\n").map((l) => l.trim().toLowerCase()).filter(Boolean)),
  );
  return common;
}

export interface Rule {
  text: string;
  ok: boolean | null; // null: not known yet (the list is still loading)
}

/** Every rule with whether `password` meets it, in the server's order. */
export function rules(password: string, username: string, email: string, list: Set<string> | null): Rule[] {
  const lowered = password.toLowerCase();
  const identities = [username, email, email.split("@")[0]].map((s) => s.toLowerCase()).filter((s) => s.length >= 3);
  const base = lowered.replace(/[\d\W_]+$/u, "");
  return [
    { text: `At least ${MIN_LENGTH} characters`, ok: password.length >= MIN_LENGTH },
    { text: "Not one repeated character", ok: password.length > 0 && new Set(lowered).size > 1 },
    { text: "Does not contain your user name or email", ok: password.length > 0 && !identities.some((i) => lowered.includes(i)) },
    {
      text: "Not one of the 10,000 most common passwords",
      ok: list === null ? null : password.length > 0 && !list.has(lowered) && !(base && list.has(base)),
    },
  ];
}
