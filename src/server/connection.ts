// One client connection: lines in, one reply per line out, in request order,
// whatever order the answers become ready in. Reading stops while replies
// pile up (a client that does not read cannot grow our memory).
import type { Socket } from 'node:net';
import type { Transform } from 'node:stream';
import type { EventHub, EventName } from '../events.js';
import type { Commands, Session } from '../protocol/commands.js';
import { errorReply } from '../protocol/replies.js';
import { type Frame, lineSplitter } from './framing.js';
import { Subscription } from './subscription.js';

export interface ConnectionOptions {
  readonly maxLineBytes: number;
  /** 0: never. */
  readonly idleTimeoutMs: number;
}

/** Bytes unsent to a client past which its events wait (and, past the backlog, are dropped). */
const EVENT_HIGH_WATER = 256 * 1024;

/** Replies waiting (for a commit, or for the client to read) before we stop reading its lines. */
const MAX_WAITING_REPLIES = 1024;
/** After the drain deadline, how long a client that does not read its last replies keeps the connection. */
const FINISH_LINGER_MS = 1000;

/** A reply slot: its text once known. */
interface Slot {
  text: string | undefined;
}

export class Connection implements Session {
  private readonly splitter: Transform;
  private subscription: Subscription | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly waiting: Slot[] = [];
  private inputEnded = false;
  /** The daemon is stopping: lines framed from now on get `shutting_down`. */
  private stopping = false;
  /** Lines framed before the stop but parked behind backpressure: they still get their normal replies. */
  private framedBeforeStop = 0;
  /** The drain deadline passed: nothing more is read; the connection ends once its replies are out. */
  private finished = false;
  private paused = false;
  /** Replies of this turn of the event loop, written together. */
  private output = '';
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly commands: Commands,
    private readonly options: ConnectionOptions,
    private readonly hub: EventHub,
  ) {
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.unsubscribe?.();
        resolve();
      }),
    );
    this.splitter = lineSplitter(options.maxLineBytes);
    socket.on('error', () => socket.destroy());
    socket.on('drain', () => {
      this.subscription?.drained();
      this.resumeIfCaughtUp();
    });
    if (options.idleTimeoutMs > 0) {
      // `on`, not setTimeout's own callback (a `once`): a connection that was
      // busy when the timer fired must still be closed once it falls silent.
      socket.setTimeout(options.idleTimeoutMs);
      socket.on('timeout', () => this.onIdle());
    }
    this.splitter.on('data', (frame: Frame) => this.onFrame(frame));
    this.splitter.on('end', () => {
      this.inputEnded = true;
      this.endIfDone();
    });
    socket.pipe(this.splitter);
  }

  private onFrame(frame: Frame): void {
    if (typeof frame !== 'string') {
      this.answer(errorReply('line_too_long', undefined, 'the line is longer than --max-line-bytes; it was skipped'));
      return;
    }
    if (frame.trim() === '') return;
    if (this.stopping && this.framedBeforeStop-- <= 0) {
      this.answer(this.commands.refuse(frame, 'shutting_down', 'gocmd is stopping; this line was not processed'));
      return;
    }
    const reply = this.commands.handle(frame, this);
    if (typeof reply === 'string') {
      this.answer(reply);
      return;
    }
    const slot: Slot = { text: undefined };
    this.waiting.push(slot);
    void reply.then((text) => {
      slot.text = text;
      this.flush();
    });
    this.pauseIfBehind();
  }

  /** A reply ready now: written at once unless earlier ones are still waiting. */
  private answer(text: string): void {
    if (this.waiting.length === 0) {
      this.write(text);
      this.pauseIfBehind();
      return;
    }
    this.waiting.push({ text });
  }

  private flush(): void {
    let head = this.waiting[0];
    while (head !== undefined && head.text !== undefined) {
      this.write(head.text);
      this.waiting.shift();
      head = this.waiting[0];
    }
    this.resumeIfCaughtUp();
    this.endIfDone();
  }

  /**
   * Replies made in one turn of the event loop leave in one write of one
   * string: a client pipelining hundreds of lines costs one syscall and one
   * buffer per batch. (Measured with the ingest benchmark: cork plus a write
   * per reply spent 11.8% of the daemon's samples in the write path, one
   * string per turn 7.7%.)
   */
  private write(text: string): void {
    if (this.output === '') process.nextTick(this.flushOutput);
    this.output += text + '\n';
  }

  private readonly flushOutput = (): void => {
    if (this.output === '') return;
    if (this.socket.writable) this.socket.write(this.output);
    this.output = '';
    this.pauseIfBehind();
    // Events held back while this turn's output grew past the high-water mark: when the
    // socket took it all at once, no 'drain' comes to send them, so send them now.
    if (!this.socket.writableNeedDrain) this.subscription?.drained();
  };

  private pauseIfBehind(): void {
    if (this.paused) return;
    if (this.waiting.length < MAX_WAITING_REPLIES && !this.socket.writableNeedDrain) return;
    this.paused = true;
    this.splitter.pause();
  }

  private resumeIfCaughtUp(): void {
    if (!this.paused || this.waiting.length >= MAX_WAITING_REPLIES / 2 || this.socket.writableNeedDrain) return;
    this.paused = false;
    if (!this.finished) this.splitter.resume();
  }

  /** Half-closed (or past the drain deadline) and every line answered: close our side. */
  private endIfDone(): void {
    if ((this.inputEnded || this.finished) && this.waiting.length === 0 && !this.socket.writableEnded) {
      this.flushOutput();
      this.socket.end();
    }
  }

  private stopReading(): void {
    this.socket.unpipe(this.splitter);
    this.splitter.pause();
    this.socket.pause();
  }

  private onIdle(): void {
    if (this.waiting.length > 0) return;
    // A subscriber is silent by design (`gocmctl watch` only reads): while it has taken every event
    // written to it, it is listening, and is looked at again one silent period later. One that leaves
    // events unread is closed as any silent client is.
    if (this.subscription && !this.socket.writableEnded && this.socket.writableLength === 0 && this.output.length === 0) {
      this.socket.setTimeout(this.options.idleTimeoutMs);
      return;
    }
    // Ended one silent period ago and the client still holds on (it never
    // closes, or never reads what is left): cut it off, or it keeps its
    // --max-connections slot and file descriptor for ever.
    if (this.socket.writableEnded) {
      this.socket.destroy();
      return;
    }
    this.socket.end();
    this.socket.setTimeout(this.options.idleTimeoutMs);
  }

  /** `subscribe`: this connection gets the events named, beside its replies, from now on. */
  subscribe(events: ReadonlySet<EventName>): void {
    this.unsubscribe?.();
    this.subscription = new Subscription(events, {
      write: (line) => {
        if (!this.socket.writableEnded) this.write(line);
      },
      backlogged: () => this.socket.writableLength + this.output.length > EVENT_HIGH_WATER,
    });
    this.unsubscribe = this.hub.add(this.subscription);
  }

  /**
   * The daemon is stopping (SPEC.md "Faults"): every line received so far
   * gets its normal reply, those parked behind backpressure included; each
   * line after it gets `shutting_down`. Reading goes on until the client
   * half-closes or finish() is called at the deadline.
   */
  shutdown(): void {
    if (this.stopping) return;
    this.stopping = true;
    // In object mode readableLength counts frames: these were split before the stop.
    this.framedBeforeStop = this.splitter.readableLength;
    this.endIfDone();
  }

  /** The drain deadline: read no more; end once the replies owed are out, or a moment later. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopReading();
    this.endIfDone();
    setTimeout(() => this.socket.destroy(), FINISH_LINGER_MS).unref();
  }
}
