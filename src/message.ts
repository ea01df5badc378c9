// A message: one accepted `send`, its id and its validated content, as stored in the spool.

/** The content of a `send`, with SPEC.md's field names; only validated values get here. */
export interface MessageContent {
  readonly payload: Readonly<Record<string, unknown>>;
  readonly notification?: Readonly<{ title?: string; body?: string; image?: string }>;
  readonly android?: Readonly<Record<string, unknown>>;
  readonly apns?: Readonly<Record<string, unknown>>;
  readonly webpush?: Readonly<Record<string, unknown>>;
  readonly collapse_key?: string;
  readonly priority?: 'normal' | 'high';
  /** Time to live, in seconds. */
  readonly ttl?: number;
  readonly dry_run?: boolean;
}

export interface Message {
  readonly id: string;
  readonly content: MessageContent;
}
