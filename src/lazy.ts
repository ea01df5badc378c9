// Dependencies that only some configurations use (undici for http:// and
// HTTP/1.1 push services, web-push for Web Push apps) are loaded the first
// time they are needed: each costs the daemon 10–20 MiB of resident memory
// once loaded, in every thread that loads it, whether it sends with it or not.
// They are CommonJS, so require() loads them synchronously, where constructors
// need them.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A getter of the module `name`, loaded on its first call. */
export function lazily<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
