// The error a route throws to answer with a status (shaped by errors.ts).

/** An error that becomes an HTTP status with a TEI/Cohere-shaped body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const validation = (code: string, message: string, status = 422, extra: Record<string, unknown> = {}) => new HttpError(status, 'Validation', code, message, extra);

/** 503 while the server drains (the client should go elsewhere: the connection closes). */
export const draining = () => new HttpError(503, 'Unavailable', 'ERR_DRAINING', 'the server is shutting down', {}, { 'retry-after': '1', connection: 'close' });

/** 503 until the models are loaded. */
export const loading = () => new HttpError(503, 'Unavailable', 'ERR_LOADING', 'the models are still loading', {}, { 'retry-after': '1' });
