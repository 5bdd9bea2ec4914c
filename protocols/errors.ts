/**
 * One error type with a code and context, instead of bare strings.
 * Codes are stable identifiers that tests, logs and metrics can match on.
 */
export type ErrorCode =
  | 'LINK_CLOSED'
  | 'LINK_OPEN_FAILED'
  | 'LINK_WRITE_FAILED'
  | 'BAD_URL'
  | 'TIMEOUT'
  | 'MODBUS_EXCEPTION'
  | 'DEVICE_SET_ASIDE'
  | 'BAD_FRAME'
  | 'BAD_CONFIG'
  | 'BAD_PAYLOAD'
  | 'NOT_CONFIRMED'
  /** A queued write dropped unsent: a later OFF to the same coil, or its stillWanted() said no (protocols/modbus/README.md). */
  | 'SUPERSEDED'
  | 'STORE_FULL'
  | 'STORE_ERROR'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'INTERNAL';

export class FillgateError extends Error {
  readonly code: ErrorCode;
  readonly context: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FillgateError';
    this.code = code;
    this.context = context;
  }
}

export function isFillgateError(err: unknown, code?: ErrorCode): err is FillgateError {
  return err instanceof FillgateError && (code === undefined || err.code === code);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
