// A small bounded cache of body templates by message id: the tokens of one
// message come out of the spool together, so a few recent messages cover them.
import type { MessageToSend } from '../provider.js';
import { bodyTemplate, type BodyTemplate } from './message.js';

const BODY_CACHE_SIZE = 256;

export class BodyCache {
  readonly #templates = new Map<string, BodyTemplate>();
  readonly #dryRun: boolean;
  readonly #size: number;

  constructor(dryRun: boolean, size = BODY_CACHE_SIZE) {
    this.#dryRun = dryRun;
    this.#size = size;
  }

  template(message: MessageToSend): BodyTemplate {
    let template = this.#templates.get(message.id);
    if (template) return template;
    template = bodyTemplate(message.content, this.#dryRun);
    // Maps iterate in insertion order: the first key is the oldest message.
    if (this.#templates.size >= this.#size) this.#templates.delete(this.#templates.keys().next().value as string);
    this.#templates.set(message.id, template);
    return template;
  }
}
