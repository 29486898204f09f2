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
