// The message catalogue lookup: every visible string goes through t().
// The language is remembered in localStorage; changing it re-renders.
import { messages } from "./messages.js";

const KEY = "fw.lang";
const listeners = new Set();

function initial() {
  const saved = localStorage.getItem(KEY);
  if (saved && messages[saved]) return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

let lang = initial();
document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";

export const languages = [["zh", "中文"], ["en", "English"]];

export function currentLang() {
  return lang;
}

export function setLang(next) {
  if (!messages[next] || next === lang) return;
  lang = next;
  localStorage.setItem(KEY, next);
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.add(fn);
}

/** The message `key` with `{name}` placeholders filled from `params`. */
export function t(key, params) {
  const text = messages[lang][key] ?? messages.en[key];
  if (text === undefined) {
    console.warn(`missing message: ${key}`);
    return key;
  }
  return params ? text.replace(/\{(\w+)\}/g, (_, p) => (p in params ? String(params[p]) : `{${p}}`)) : text;
}

/** t() when the key exists, else `fallback` (server text we cannot translate). */
/** An instant as the browser's locale writes it ("" for none). */
export function formatTime(ts) {
  return ts ? new Date(ts).toLocaleString() : "";
}

export function tOr(key, fallback) {
  return key in messages[lang] ? t(key) : fallback;
}

// Server detail messages are English sentences; the common ones have a
// catalogue entry so users read them in their language.
const DETAIL_PATTERNS = [
  [/^is required$/, "err.required"],
  [/^must be a number$/, "err.number"],
  [/^must be a whole number$/, "err.integer"],
  [/^must be at least (.+)$/, "err.min"],
  [/^must be at most (\d+) characters$/, "err.max_length"],
  [/^must be at most (.+)$/, "err.max"],
  [/^must be an email address$/, "err.email"],
  [/^must be a phone number$/, "err.phone"],
  [/^must be a web address$|^must start with http/, "err.url"],
  [/^another record already has this value$/, "err.unique"],
  [/^must be one of: (.+)$/, "err.option"],
  [/^must be a date/, "err.date"],
  [/^must match the pattern/, "err.pattern"],
  [/^must have at most (\d+) decimal/, "err.decimals"],
  [/^is not a field of this form$/, "err.unknown_field"],
];

/** A field-level server message in the user's language where we know it. */
export function detailMessage(msg) {
  for (const [re, key] of DETAIL_PATTERNS) {
    const m = re.exec(msg);
    if (m) return t(key, { n: m[1] ?? "", raw: msg });
  }
  return msg;
}
