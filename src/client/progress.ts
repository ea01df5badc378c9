// The progress bar `gocmctl send` draws on a terminal's stderr: tokens
// acknowledged by the daemon out of the total (once the total is known).

const WIDTH = 30;

/** One line of progress, without control characters. Pure. */
export function renderProgress(acknowledged: number, total: number | undefined, width = WIDTH): string {
  if (total === undefined) return `${acknowledged} tokens acknowledged`;
  const fraction = total === 0 ? 1 : Math.min(1, acknowledged / total);
  const filled = Math.round(fraction * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  return `[${bar}] ${acknowledged}/${total} tokens ${Math.floor(fraction * 100)}%`;
}

/** Where the bar is drawn: a terminal stream (only `write` is used). */
export interface ProgressOutput {
  write(text: string): unknown;
}

export class ProgressBar {
  private drawn = false;

  constructor(private readonly output: ProgressOutput) {}

  update(acknowledged: number, total: number | undefined): void {
    // \r and "erase to end of line": redraw in place, whatever was longer before.
    this.output.write(`\r${renderProgress(acknowledged, total)}\x1b[K`);
    this.drawn = true;
  }

  /** Erase the bar, so that what is printed next starts on a clean line. */
  clear(): void {
    if (this.drawn) this.output.write('\r\x1b[K');
    this.drawn = false;
  }
}
