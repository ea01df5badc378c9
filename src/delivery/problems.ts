// Trouble on the way, summed and logged at most once a second: a 5xx storm
// over a million tokens is one line a second, not a million lines.
import type { Logger } from '../log.js';
import { describeReason, type Reason } from '../providers/provider.js';

const INTERVAL_MS = 1000;

export class ProblemLog {
  private counts = new Map<string, number>();
  private configProblems = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger) {}

  /** Count one token's trouble; `configProblem` ones are the operator's to fix and logged as errors. */
  note(reason: Reason, configProblem = false): void {
    const into = configProblem ? this.configProblems : this.counts;
    const key = describeReason(reason);
    into.set(key, (into.get(key) ?? 0) + 1);
    // unref: a pending summary must not keep a stopping daemon alive.
    this.timer ??= setTimeout(() => this.flush(), INTERVAL_MS).unref();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.configProblems.size > 0) {
      this.log.error(
        { reasons: Object.fromEntries(this.configProblems) },
        'the push service refuses our credentials or project (e.g. SENDER_ID_MISMATCH, BadDeviceToken, 401): check the credentials, topic and environment; affected tokens were failed, not purged',
      );
    }
    if (this.counts.size > 0) this.log.warn({ reasons: Object.fromEntries(this.counts) }, 'delivery problems in the last second');
    this.counts = new Map();
    this.configProblems = new Map();
  }
}
