// Node's fetch keeps no cookies. This jar does what a browser does for authgate's two cookies:
// stores Set-Cookie answers, honours Path and Max-Age, and sends matching cookies back.
import type { FetchLike } from "../src/index.js";

interface StoredCookie {
  name: string;
  value: string;
  path: string;
  expiresAt: number | null;
  httpOnly: boolean;
  sameSite: string | null;
}

export interface RecordedRequest {
  method: string;
  url: string;
  path: string;
  headers: Headers;
  credentials: RequestCredentials | undefined;
  body: string | null;
  status: number;
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}

function defaultPath(pathname: string): string {
  const cut = pathname.lastIndexOf("/");
  return cut <= 0 ? "/" : pathname.slice(0, cut);
}

export class CookieJar {
  private cookies = new Map<string, StoredCookie>();
  /** Every request made through `fetch`, in order, with the answer's status. */
  readonly requests: RecordedRequest[] = [];
  /** When false the jar ignores Max-Age, like a browser whose clock lags the server's. */
  honourMaxAge = true;

  readonly fetch: FetchLike = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const cookie = this.header(url.pathname);
    if (cookie) headers.set("cookie", cookie);
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    const body = typeof init?.body === "string" ? init.body : null;
    const response = await fetch(input, { ...init, headers });
    this.requests.push({
      method,
      url: url.toString(),
      path: url.pathname + url.search,
      headers,
      credentials: init?.credentials ?? (input instanceof Request ? input.credentials : undefined),
      body,
      status: response.status,
    });
    for (const line of response.headers.getSetCookie()) this.store(line, url.pathname);
    return response;
  };

  get(name: string): StoredCookie | undefined {
    this.expire();
    return [...this.cookies.values()].find((c) => c.name === name);
  }

  set(name: string, value: string, path: string): void {
    this.cookies.set(`${name};${path}`, { name, value, path, expiresAt: null, httpOnly: true, sameSite: null });
  }

  delete(name: string): void {
    for (const [key, cookie] of this.cookies) if (cookie.name === name) this.cookies.delete(key);
  }

  names(): string[] {
    this.expire();
    return [...this.cookies.values()].map((c) => c.name).sort();
  }

  /** Requests to one path (method optional), e.g. `count("POST", "/api/auth/refresh")`. */
  count(method: string, path: string): number {
    return this.requests.filter((r) => r.method === method && r.path === path).length;
  }

  copyFrom(other: CookieJar): void {
    other.expire();
    for (const [key, cookie] of other.cookies) this.cookies.set(key, { ...cookie });
  }

  private header(pathname: string): string {
    this.expire();
    return [...this.cookies.values()]
      .filter((c) => pathMatches(pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  private expire(): void {
    if (!this.honourMaxAge) return;
    const now = Date.now();
    for (const [key, cookie] of this.cookies) {
      if (cookie.expiresAt !== null && cookie.expiresAt <= now) this.cookies.delete(key);
    }
  }

  private store(line: string, requestPath: string): void {
    const [pair = "", ...attributes] = line.split(";");
    const eq = pair.indexOf("=");
    if (eq <= 0) return;
    const cookie: StoredCookie = {
      name: pair.slice(0, eq).trim(),
      value: pair.slice(eq + 1).trim(),
      path: defaultPath(requestPath),
      expiresAt: null,
      httpOnly: false,
      sameSite: null,
    };
    for (const attribute of attributes) {
      const [rawKey = "", ...rest] = attribute.split("=");
      const key = rawKey.trim().toLowerCase();
      const value = rest.join("=").trim();
      if (key === "path" && value.startsWith("/")) cookie.path = value;
      else if (key === "max-age") cookie.expiresAt = Date.now() + Number(value) * 1000;
      else if (key === "expires" && cookie.expiresAt === null) cookie.expiresAt = Date.parse(value);
      else if (key === "httponly") cookie.httpOnly = true;
      else if (key === "samesite") cookie.sameSite = value;
    }
    const key = `${cookie.name};${cookie.path}`;
    if (cookie.expiresAt !== null && cookie.expiresAt <= Date.now()) this.cookies.delete(key);
    else this.cookies.set(key, cookie);
  }
}
