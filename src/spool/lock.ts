// One daemon per spool: two would deliver every token twice. The spool runs in
// locking_mode NORMAL so the checkpointer's connection can share it; the claim
// is SQLite's own exclusive lock on a companion file, `<spool>.lock`, held by
// a connection in locking_mode EXCLUSIVE until it closes. It is an fcntl()
// lock, which the kernel drops when the process dies (kill -9 leaves nothing
// behind). The file stays when the daemon stops: removing it could let two
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
