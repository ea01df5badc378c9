// Reply lines: `ok` first, the request's `id` echoed, then the rest.
import { type ErrorCode } from '../errors.js';

export type RequestId = string | number | undefined;

export function okReply(id: RequestId, fields: object): string {
  return JSON.stringify(id === undefined ? { ok: true, ...fields } : { ok: true, id, ...fields });
}

export function errorReply(code: ErrorCode, id: RequestId, message: string): string {
  const error = { code, message };
  return JSON.stringify(id === undefined ? { ok: false, error } : { ok: false, id, error });
}
