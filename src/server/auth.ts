/**
 * API keys: `Authorization: Bearer <key>` on every route but the health check (and /metrics when
 * it is public). Keys are kept only as SHA-256 digests and compared in constant time against all
 * of them; they never reach the log or /info.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CrossrankError, invalidType } from '../errors.js';
import { HttpError } from './http-error.js';

const KEY_RE = /^[\x21-\x7e]{16,512}$/;

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** Throws ERR_INVALID_API_KEY naming where a key came from, never the key. */
function checkKey(key: unknown, where: string): string {
  if (typeof key !== 'string') throw invalidType(where, 'a string', key);
  if (!KEY_RE.test(key)) {
    throw new CrossrankError('ERR_INVALID_API_KEY', `${where}: an API key must be 16 to 512 printable ASCII characters without spaces (got ${key.length} characters)`);
  }
  return key;
}

/** The set of accepted API keys; replace() swaps them atomically (SIGHUP reloads a key file). */
export class ApiKeys {
  #digests: Buffer[] = [];

  constructor(keys: Iterable<string> = [], source = 'apiKeys') {
    this.replace(keys, source);
  }

  /** Keys from a file: one per line; blank lines and lines starting with '#' are skipped. */
  static readFile(path: string): string[] {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new CrossrankError('ERR_API_KEY_FILE', `cannot read the API key file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    const keys: string[] = [];
    text.split(/\r?\n/).forEach((line, i) => {
      const t = line.trim();
      if (t && !t.startsWith('#')) keys.push(checkKey(t, `${path} line ${i + 1}`));
    });
    return keys;
  }

  /** Keys from a comma-separated list (the CROSSRANK_API_KEYS variable). */
  static parseList(list: string, source: string): string[] {
    return list.split(',').map((k) => k.trim()).filter(Boolean).map((k, i) => checkKey(k, `${source} item ${i + 1}`));
  }

  replace(keys: Iterable<string>, source = 'apiKeys'): void {
    let i = 0;
    const next: Buffer[] = [];
    for (const k of keys) next.push(digest(checkKey(k, `${source}[${i++}]`)));
    this.#digests = next;
  }

  get size(): number {
    return this.#digests.length;
  }

  /** Whether `presented` is one of the keys. Time does not depend on which key matched or how much of it. */
  verify(presented: string): boolean {
    const d = digest(presented);
    let ok = false;
    for (const k of this.#digests) ok = timingSafeEqual(k, d) || ok;
    return ok;
  }

  /** Never print keys, whatever logs or inspects this object. */
  toJSON(): string {
    return `[${this.size} API keys]`;
  }
}

export interface AuthOptions {
  keys: ApiKeys;
  metricsPublic: boolean;
  /** Without keys, requests reaching a non-loopback address are refused unless this is set. */
  insecureNoAuth: boolean;
  /** CORS preflights carry no credentials: let them through to the CORS plugin. */
  corsEnabled: boolean;
  onFailure(req: FastifyRequest): void;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

/** Whether a socket address is a loopback one (127.0.0.0/8, ::1, IPv4-mapped 127.x). */
export function isLoopback(address: string): boolean {
  return LOOPBACK.test(address);
}

function open(req: FastifyRequest, o: AuthOptions): boolean {
  const path = req.url.split('?')[0];
  if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) return true;
  if (path === '/metrics' && req.method === 'GET' && o.metricsPublic) return true;
  return req.method === 'OPTIONS' && o.corsEnabled;
}

/** The onRequest hook: runs before the body is read, so an unauthenticated client costs no parsing. */
export function installAuth(app: FastifyInstance, o: AuthOptions): void {
  app.addHook('onRequest', async (req) => {
    if (open(req, o)) return;
    if (o.keys.size === 0) {
      const local = req.socket?.localAddress;
      if (o.insecureNoAuth || local === undefined || isLoopback(local)) return;
      o.onFailure(req);
      throw new HttpError(403, 'Unauthorized', 'ERR_AUTH_REQUIRED', 'this server has no API key configured and answers only on loopback addresses; configure a key (or insecureNoAuth)');
    }
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (m && o.keys.verify(m[1]!)) return;
    o.onFailure(req);
    const challenge = m ? 'Bearer realm="crossrank", error="invalid_token"' : 'Bearer realm="crossrank"';
    throw new HttpError(401, 'Unauthorized', 'ERR_UNAUTHORIZED', m ? 'invalid API key' : 'missing API key: send "Authorization: Bearer <key>"', {}, { 'www-authenticate': challenge });
  });
}
