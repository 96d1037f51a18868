// The public API, as the UI calls it: JSON in and out, the session cookie
// for credentials, and one error type carrying the server's stable code and
// field details.
import { t, tOr } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "internal";
    this.details = Array.isArray(err.details) ? err.details : [];
  }
  /** The message to show: the code in the user's language, the server's words after it. */
  display() {
    const head = tOr(`code.${this.code}`, this.code);
    // Field details are shown at their fields; the summary needs no English sentence.
    if (this.code === "internal" || this.code === "validation_failed" || !this.message) return head;
    return `${head}: ${this.message}`;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** Calls the API; resolves with { body, etag }, rejects with ApiError. */
export async function call(method, path, body, headers = {}) {
  const init = { method, headers: { accept: "application/json", ...headers }, credentials: "same-origin" };
  if (body instanceof FormData || body instanceof Blob) {
    // The browser sets the multipart content type with its boundary; a
    // raw file goes as it is, typed by the caller's header.
    init.body = body;
  } else if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await send(path, init);
  if (!res.ok) throw await failure(res, path);
  return { body: await jsonOf(res), etag: res.headers.get("etag") };
}

async function jsonOf(res) {
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

/** The ApiError of a failed response; a lapsed session goes back to the login. */
async function failure(res, path) {
  if (res.status === 401 && path !== "/auth/login") onUnauthorized();
  return new ApiError(res.status, await jsonOf(res));
}

async function send(path, init) {
  try {
    return await fetch(`/api/v1${path}`, init);
  } catch {
    throw new ApiError(0, { error: { code: "network", message: t("err.network") } });
  }
}

/** Calls an endpoint that answers a file; resolves with { blob, name }
 * (the name from Content-Disposition), rejects with ApiError. */
export async function fetchFile(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await send(path, init);
  if (!res.ok) throw await failure(res, path);
  const cd = res.headers.get("content-disposition") || "";
  const utf8 = /filename\*=UTF-8''([^;]+)/i.exec(cd);
  const plain = /filename="([^"]+)"/i.exec(cd);
  const name = utf8 ? decodeURIComponent(utf8[1]) : plain ? plain[1] : "download";
  return { blob: await res.blob(), name };
}

/** Hands a downloaded file to the browser, as a link with `download` would. */
export function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export const api = {
  get: (p) => call("GET", p).then((r) => r.body),
  post: (p, b) => call("POST", p, b ?? {}).then((r) => r.body),
  put: (p, b) => call("PUT", p, b).then((r) => r.body),
  del: (p) => call("DELETE", p).then((r) => r.body),
};

let kindsOnce = null;
/** The server's registries (`GET /kinds`: field types, trigger and action
 * kinds, flow events and states), read once per page load. */
export function serverKinds() {
  kindsOnce = kindsOnce ?? api.get("/kinds").catch((e) => { kindsOnce = null; throw e; });
  return kindsOnce;
}

/** The kinds the server `has`, in the UI's `preferred` order, then any the
 * UI does not know yet (shown by their name). */
export function inOrder(preferred, has) {
  return [...preferred.filter((k) => has.includes(k)), ...has.filter((k) => !preferred.includes(k))];
}

/** Uploads one file for an attachment or image field; resolves with its metadata. */
export function uploadFile(file) {
  const body = new FormData();
  body.append("file", file, file.name);
  return call("POST", "/files", body).then((r) => r.body);
}

/** The URL of a file's content (served only to those who may see it). */
export function fileUrl(id) {
  return `/api/v1/files/${encodeURIComponent(id)}/content`;
}

/** Creates the tenant's tag `name` unless it exists (a record can only carry an existing tag). */
export async function ensureTag(name) {
  const tags = await api.get("/tags");
  if (!tags.some((x) => x.name === name)) await api.post("/tags", { name });
}
