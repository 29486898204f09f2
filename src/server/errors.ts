/**
 * Error answers of the HTTP service: one body shape for every route, TEI's `{ error, error_type }`
 * plus Cohere's `message`, crossrank's stable `code` and the request id. 5xx bodies never carry
 * the underlying message (it may name local paths); it goes to the log with the same request id.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BatchError } from '../errors.js';
import { draining, HttpError, validation } from './http-error.js';
import { limitFromValidation } from './limits.js';

export { HttpError, validation } from './http-error.js';

/** Why a request's AbortSignal fired: its client left, its deadline passed, or the server is draining. */
export type AbortCause = 'client' | 'deadline' | 'drain';

export interface ErrorHooks {
  /** Why the request's work was aborted, if it was. */
  abortCause(req: FastifyRequest): AbortCause | undefined;
  /** Called for every error answer (metrics). */
  onError(req: FastifyRequest, h: HttpError): void;
}

/** Send an HttpError in the service's shape. */
export function sendError(req: FastifyRequest, reply: FastifyReply, h: HttpError): FastifyReply {
  for (const [k, v] of Object.entries(h.headers)) void reply.header(k, v);
  void reply.header('x-request-id', req.id);
  return reply.status(h.status).send({ error: h.message, message: h.message, error_type: h.errorType, code: h.code, request_id: req.id, ...h.extra });
}

/** Map whatever a route threw to an HttpError (logging the details of server faults). */
export function toHttpError(err: unknown, req: FastifyRequest, hooks: ErrorHooks): HttpError {
  const e = err as FastifyError & { validation?: unknown };
  if (e instanceof HttpError) return e;
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return validation('ERR_BODY_TOO_LARGE', e.message, 413, { limit: 'body_limit' });
  if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return validation('ERR_MALFORMED_JSON', e.message, 400);
  if (e.validation) {
    // A schema failure on a limit keyword (maxItems, maxLength, maximum) names the limit and the value.
    return limitFromValidation(e.validation as Parameters<typeof limitFromValidation>[0], req.body) ?? validation('ERR_VALIDATION', `Input validation error: ${e.message}`);
  }
  if (e.name === 'AbortError' || e.code === 'ABORT_ERR') {
    const cause = hooks.abortCause(req);
    if (cause === 'deadline') return new HttpError(504, 'Timeout', 'ERR_DEADLINE', "the request's deadline passed before its work finished; the scoring was stopped");
    if (cause === 'drain') return draining();
    return new HttpError(499, 'Cancelled', 'ABORT_ERR', 'the client closed the request');
  }
  if (e.code === 'ERR_QUEUE_FULL') return new HttpError(429, 'Overloaded', e.code, e.message, {}, { 'retry-after': '1' });
  if (e.code === 'ERR_POOL_CLOSED') return draining();
  if (e.code === 'ERR_INVALID_ARG_TYPE' || e.code === 'ERR_OUT_OF_RANGE' || e.code === 'ERR_INVALID_ARG_VALUE' || e.code === 'ERR_EMPTY_INPUT') return validation(e.code, e.message);
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return validation(e.code ?? 'ERR_BAD_REQUEST', e.message, e.statusCode);
  req.log.error({ err: e }, 'request failed');
  if (e instanceof BatchError) {
    // Per-item codes and the ranking of the pairs that did score; messages stay in the log.
    const failures = e.failures.map((f) => ({ index: f.index, code: f.code }));
    return new HttpError(500, 'Backend', e.code, `${e.failures.length} of ${e.results.length} items failed (see the log, request ${req.id})`, { failures, results: e.results });
  }
  return new HttpError(500, 'Backend', 'ERR_INTERNAL', `internal error (see the log, request ${req.id})`);
}

/** Route errors and unknown routes answer in the same shape. */
export function installErrorHandling(app: FastifyInstance, hooks: ErrorHooks): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const h = toHttpError(err, req, hooks);
    hooks.onError(req, h);
    return sendError(req, reply, h);
  });
  app.setNotFoundHandler((req, reply) => {
    const h = new HttpError(404, 'NotFound', 'ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}`);
    hooks.onError(req, h);
    return sendError(req, reply, h);
  });
}
