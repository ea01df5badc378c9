// One daemon per spool: two would deliver every token twice. The spool itself
// runs in locking_mode NORMAL, so that a second connection (the checkpointer,
// checkpointer.ts) can share it; the claim to it is a lock on a companion file,
// `<spool>.lock`, held from open to close.
//
// The lock is SQLite's own: a connection in locking_mode EXCLUSIVE keeps the
// exclusive lock its first write transaction takes until it closes. On Unix
// that is an fcntl() lock, which the kernel drops when the process dies, so a
// daemon killed with SIGKILL leaves nothing that blocks the next start; and
// SQLite keeps the connections of one process from sharing it, so a second
// SqliteSpool in the same process is refused as another daemon would be.
// The file stays in place when the daemon stops: removing it could let two
// daemons lock two different files under one name.
import Database from 'better-sqlite3';

/** How long a second opener waits for the lock: a daemon that is stopping lets go within it. */
const WAIT_MS = 500;

export function lockPath(spool: string): string {
  return `${spool}.lock`;
}

/** A spool's lock, held until released. */
export interface SpoolLock {
  release(): void;
}

/**
 * The connections holding locks. A connection nothing refers to is closed
 * when it is garbage-collected, which would drop its lock: a test child that
 * kept its spool in no variable lost the lock this way within a second.
 */
const held = new Set<Database.Database>();

/**
 * Take the lock of the spool at `spool`, until released. Throws SQLite's
 * error (SQLITE_BUSY when another process holds it).
 */
export function lockSpool(spool: string): SpoolLock {
  const lock = new Database(lockPath(spool), { timeout: WAIT_MS });
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    // Nothing is ever written but a new file's first page (at its first lock);
    // the journal stays in memory rather than in one more file beside the spool.
    lock.pragma('journal_mode = MEMORY');
    // BEGIN EXCLUSIVE takes the exclusive lock, and in this locking mode COMMIT keeps it.
    lock.exec('BEGIN EXCLUSIVE');
    lock.exec('COMMIT');
  } catch (error) {
    lock.close();
    throw error;
  }
  held.add(lock);
  return {
    release() {
      if (!held.delete(lock)) return;
      lock.close();
    },
  };
}
