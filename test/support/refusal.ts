// What a fake upstream answers when a request fails one of its checks: the
// HTTP status and the reason the real service would give.

/** A class, not a shape: a parsed payload may well have `status` and `reason` keys of its own. */
export class Refusal {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {}
}

export const refuse = (status: number, reason: string): Refusal => new Refusal(status, reason);
export const isRefusal = (value: unknown): value is Refusal => value instanceof Refusal;
