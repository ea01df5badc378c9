// The progress bar `gocmctl send` draws on a terminal's stderr: tokens
// acknowledged by the daemon (or lines of --messages done) out of the total,
// once the total is known.

const WIDTH = 30;

/** What the bar counts, and the word for "counted so far" while the total is unknown. */
export interface ProgressUnit {
  readonly plural: string;
  readonly done: string;
}

export const TOKENS: ProgressUnit = { plural: 'tokens', done: 'acknowledged' };
export const LINES: ProgressUnit = { plural: 'lines', done: 'done' };

/** One line of progress, without control characters. Pure. */
export function renderProgress(acknowledged: number, total: number | undefined, width = WIDTH, unit = TOKENS): string {
  if (total === undefined) return `${acknowledged} ${unit.plural} ${unit.done}`;
  const fraction = total === 0 ? 1 : Math.min(1, acknowledged / total);
  const filled = Math.round(fraction * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  return `[${bar}] ${acknowledged}/${total} ${unit.plural} ${Math.floor(fraction * 100)}%`;
}

/** Where the bar is drawn: a terminal stream (only `write` is used). */
export interface ProgressOutput {
  write(text: string): unknown;
}

export class ProgressBar {
  private drawn = false;
  private shown = '';

  constructor(
    private readonly output: ProgressOutput,
    private readonly unit = TOKENS,
  ) {}

  update(acknowledged: number, total: number | undefined): void {
    const text = renderProgress(acknowledged, total, WIDTH, this.unit);
    // A million lines would redraw a million times; only a change people can see is drawn.
    if (this.drawn && text === this.shown) return;
    // \r and "erase to end of line": redraw in place, whatever was longer before.
    this.output.write(`\r${text}\x1b[K`);
    this.drawn = true;
    this.shown = text;
  }

  /** Erase the bar, so that what is printed next starts on a clean line. */
  clear(): void {
    if (this.drawn) this.output.write('\r\x1b[K');
    this.drawn = false;
  }
}
