// The wire error codes of SPEC.md, in one table, and the error classes that carry them.
// A test checks that every code here is documented in the README.

export const ERROR_CODES = {
  bad_json: 'the line is not a JSON object',
  bad_request: 'the command is missing a field or has one of the wrong type',
  unknown_command: 'the "cmd" field names no command',
  line_too_long: 'the line (an HTTP body) is longer than --max-line-bytes; it was skipped',
  payload_too_large: "the message is over its push service's limit: 4096 bytes of FCM data, of APNs payload, or of encrypted Web Push message",
  busy: 'the spool cannot take it now (full, locked or unwritable); nothing was accepted: try again later',
  shutting_down: 'the daemon is stopping; this line was not processed',
  internal: 'an unexpected error in the daemon; nothing was accepted',
  not_found: 'status: no such message, or it became final longer ago than --status-retention; HTTP: no such endpoint',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error answered on the wire: a stable code and a message for people. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** The spool cannot take more work: answered as `busy`, never retried by us. */
export class SpoolFullError extends ProtocolError {
  constructor(message: string) {
    super('busy', message);
    this.name = 'SpoolFullError';
  }
}

/** The spool's store failed the write (locked past its timeout, an I/O error): `busy`, nothing kept. */
export class SpoolUnavailableError extends ProtocolError {
  constructor(message: string, cause: unknown) {
    super('busy', message);
    this.name = 'SpoolUnavailableError';
    this.cause = cause;
  }
}

/** A usage or configuration problem: gocmd prints one line and exits 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
