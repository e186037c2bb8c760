/**
 * Who may use a server. On a loopback address with no token the server is open to this machine;
 * bound anywhere else it requires a token (one is generated when none is given), and a token
 * given on loopback is enforced there too. Every HTTP request and WebSocket upgrade goes through
 * {@link AccessControl.check}, /metrics included.
 *
 * The browser flow: the URL the server prints carries `?token=…`; a request with a valid token in
 * its query is answered with an HttpOnly, SameSite=Strict cookie (named after the port, so two
 * servers on one host keep theirs apart), and everything the page loads afterwards — fetch,
 * hls.js, the WebSocket — authenticates with that cookie without the player handling the token.
 * Scripts use `Authorization: Bearer <token>`. Tokens are compared in constant time.
 *
 * Browsers also send an Origin with every WebSocket upgrade (and cross-origin requests): it must
 * be this server as the browser addressed it (same host:port as the Host header) or be listed in
 * `allowOrigins`; requests without an Origin come from non-browser clients and are judged by the
 * token alone. An open loopback server additionally requires a loopback Host header, so a web
 * page whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) cannot talk to it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { CinesegError, ErrorCode } from '../errors.js';

export interface AccessOptions {
  /** The address the server binds. */
  host: string;
  /** The token clients must present (required, and generated when absent, unless `host` is loopback). */
  token?: string;
  /** Browser origins allowed besides the server's own, e.g. `https://viewer.example.org`. */
  allowOrigins?: readonly string[];
}

export type AccessVerdict = { ok: true; /** A Set-Cookie value to send (the token came in the query). */ setCookie?: string } | { ok: false; status: 401 | 403; code: ErrorCode; message: string };

const TOKEN_RE = /^[A-Za-z0-9._~+/=-]{16,512}$/;

/** True for `localhost`, 127.0.0.0/8 and ::1 (with or without brackets, or IPv4-mapped). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** 192 random bits, URL- and cookie-safe. */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/** @throws CinesegError E_USAGE when the token is too short or holds characters a cookie or URL would mangle. */
export function checkToken(token: string): string {
  if (!TOKEN_RE.test(token)) throw new CinesegError(ErrorCode.E_USAGE, 'a token must be 16–512 characters of A–Z a–z 0–9 . _ ~ + / = -');
  return token;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** `host[:port]` as URL parsing normalises it (lower case, default port dropped), or null. */
function normalHost(hostHeader: string): string | null {
  try {
    const u = new URL(`http://${hostHeader}`);
    return u.username || u.password || u.pathname !== '/' ? null : u.host;
  } catch {
    return null;
  }
}

export class AccessControl {
  /** The token in force, or null when the server is open (loopback, none given). */
  readonly token: string | null;
  /** True when the token was generated here (the CLI prints it then). */
  readonly tokenGenerated: boolean;
  private readonly tokenDigest: Buffer | null;
  private readonly origins: Set<string>;
  private readonly originHosts: Set<string>;
  private port = 0;

  constructor(opts: AccessOptions) {
    const loopback = isLoopbackHost(opts.host);
    this.tokenGenerated = opts.token === undefined && !loopback;
    this.token = opts.token !== undefined ? checkToken(opts.token) : loopback ? null : generateToken();
    this.tokenDigest = this.token === null ? null : digest(this.token);
    this.origins = new Set();
    this.originHosts = new Set();
    for (const o of opts.allowOrigins ?? []) {
      let u: URL;
      try {
        u = new URL(o);
      } catch {
        throw new CinesegError(ErrorCode.E_USAGE, `--allow-origin must be an origin like https://host:port, got "${o}"`);
      }
      if (u.origin === 'null' || (u.pathname !== '/' && u.pathname !== '')) throw new CinesegError(ErrorCode.E_USAGE, `--allow-origin must be an origin like https://host:port, got "${o}"`);
      this.origins.add(u.origin);
      this.originHosts.add(u.hostname);
    }
  }

  /** The port the server listens on (names the cookie). */
  setPort(port: number): void {
    this.port = port;
  }

  get cookieName(): string {
    return `cineseg_token_${this.port}`;
  }

  /** Judges one HTTP request or WebSocket upgrade. */
  check(req: IncomingMessage): AccessVerdict {
    let setCookie: string | undefined;
    if (this.tokenDigest === null) {
      const host = req.headers.host;
      if (host !== undefined) {
        const h = normalHost(host);
        const name = h === null ? null : new URL(`http://${h}`).hostname;
        if (name === null || (!isLoopbackHost(name) && !this.originHosts.has(name))) {
          return { ok: false, status: 403, code: ErrorCode.E_AUTH_HOST, message: 'this server listens on loopback only; the Host header names another machine' };
        }
      }
    } else {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
      const cookie = cookieValue(req.headers.cookie, this.cookieName);
      const query = new URLSearchParams((req.url ?? '').split('?')[1]?.split('#')[0] ?? '').get('token') ?? undefined;
      const given = [bearer, cookie, query].filter((t): t is string => t !== undefined && t !== '');
      if (given.length === 0) {
        return { ok: false, status: 401, code: ErrorCode.E_AUTH_REQUIRED, message: 'this server requires its token: open the URL it printed (…/?token=…) or send Authorization: Bearer <token>' };
      }
      // Every candidate is compared, so the time taken does not tell which one matched.
      const valid = given.map((t) => timingSafeEqual(digest(t), this.tokenDigest!));
      if (!valid.some(Boolean)) return { ok: false, status: 401, code: ErrorCode.E_AUTH_INVALID, message: 'the token is not valid for this server' };
      if (query !== undefined && valid[given.indexOf(query)] && !(cookie !== undefined && valid[given.indexOf(cookie)])) {
        setCookie = `${this.cookieName}=${this.token}; Path=/; HttpOnly; SameSite=Strict`;
      }
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin, req.headers.host)) {
      return { ok: false, status: 403, code: ErrorCode.E_AUTH_ORIGIN, message: 'cross-origin request refused (start the server with --allow-origin <origin> to permit that page)' };
    }
    return setCookie === undefined ? { ok: true } : { ok: true, setCookie };
  }

  private originAllowed(origin: string, hostHeader: string | undefined): boolean {
    let u: URL;
    try {
      u = new URL(origin);
    } catch {
      return false;
    }
    if (u.origin === 'null') return false;
    if (this.origins.has(u.origin)) return true;
    const host = hostHeader === undefined ? null : normalHost(hostHeader);
    return host !== null && u.host === host && (u.protocol === 'http:' || u.protocol === 'https:');
  }
}
