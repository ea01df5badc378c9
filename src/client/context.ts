// What every gocmctl command shares: the exit statuses of SPEC.md, where its
// output goes, and the one way a reply is printed (its JSON line, or text
// for people, with an error's code and message on stderr).
import type { Address, Reply } from './client.js';
import { formatError } from './format.js';
import type { InputSource } from './input.js';

export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

/** The exit status of a list that was read but could not be printed (it was left in place). */
export const OUTPUT_LOST = EXIT.refused;

/** Where output goes; `done` hears whether the text was taken (a closed pipe says EPIPE). */
export interface Output {
  write(text: string, done?: (error?: Error | null) => void): unknown;
}

export interface CtlContext {
  readonly address: Address;
  /** JSON lines (--json, or stdout is not a terminal) rather than text. */
  readonly json: boolean;
  /** Draw a progress bar on stderr (it is a terminal). */
  readonly progress: boolean;
  readonly stdout: Output;
  readonly stderr: { write(text: string): unknown };
  /** Opens a file or stdin (`-`) for `flag`; throws InputFileError. */
  readonly openInput: (flag: string, path: string) => Promise<InputSource>;
  /**
   * Resolves when the user interrupts (SIGINT). Only a command that runs
   * until then (watch) asks, so Ctrl-C still stops the others at once.
   */
  readonly interrupted: () => Promise<void>;
}

export function complain(context: CtlContext, message: string, status: number): number {
  context.stderr.write(`gocmctl: ${message}\n`);
  return status;
}

/** Print one reply as its JSON line or as text; an error reply's code and message also go to stderr. */
export function print(context: CtlContext, reply: Reply, text: (reply: Reply) => string | undefined): void {
  if (context.json) context.stdout.write(JSON.stringify(reply) + '\n');
  if (!reply.ok) {
    context.stderr.write(`gocmctl: ${formatError(reply)}\n`);
    return;
  }
  const shown = context.json ? undefined : text(reply);
  if (shown !== undefined) context.stdout.write(shown + '\n');
}

/** Resolves once `text` was written to `output`; rejects if it could not be. */
export function written(output: Output, text: string): Promise<void> {
  return new Promise((resolve, reject) => output.write(text, (error) => (error ? reject(error) : resolve())));
}
