// Narrowing what arrives from outside (JSON, thrown values) without casts,
// written once for every module that reads a body, a file or an error.

/** A plain JSON object: not null, not an array. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `text` parsed, if it is a JSON object; undefined for anything else. Never throws. */
/** `text` without the byte-order mark it may start with (tolerated at the start of any line or body). */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The `code` of a thrown value (an errno name, SQLITE_BUSY, UND_ERR_…), when it has a string one. */
export function errorCode(error: unknown): string | undefined {
  const code = isObject(error) || error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
