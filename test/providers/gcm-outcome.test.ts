// Table tests for the legacy answer → outcome rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gcmOutcomes } from '../../src/providers/gcm-outcome.js';
import type { Outcome, Reason } from '../../src/providers/provider.js';

const gcm = (code: string): Reason => ({ source: 'gcm', code });
const http = (code: number): Reason => ({ source: 'http', code: String(code) });

/** A 200 body answering one token with `result`. */
function single(result: unknown): string {
  return JSON.stringify({ multicast_id: 1, success: 0, failure: 0, canonical_ids: 0, results: [result] });
}

const NOT_JSON = '<html><body>Bad Gateway</body></html>';

test('one result per token on a 200', () => {
  const cases: [string, unknown, number | undefined, Outcome][] = [
    ['delivered', { message_id: '0:1%abc' }, undefined, { kind: 'delivered' }],
    ['numeric message id', { message_id: 17 }, undefined, { kind: 'delivered' }],
    ['canonical', { message_id: '0:2', registration_id: 'new-t' }, undefined, { kind: 'delivered', canonical: 'new-t' }],
    ['canonical equal to the token', { message_id: '0:3', registration_id: 't' }, undefined, { kind: 'delivered' }],
    ['empty canonical', { message_id: '0:4', registration_id: '' }, undefined, { kind: 'delivered' }],
    ['NotRegistered', { error: 'NotRegistered' }, undefined, { kind: 'failed', reason: gcm('NotRegistered'), notRegistered: true }],
    ['Unavailable', { error: 'Unavailable' }, undefined, { kind: 'retry', reason: gcm('Unavailable') }],
    ['Unavailable + Retry-After', { error: 'Unavailable' }, 4000, { kind: 'retry', reason: gcm('Unavailable'), retryAfterMs: 4000 }],
    ['InternalServerError', { error: 'InternalServerError' }, undefined, { kind: 'retry', reason: gcm('InternalServerError') }],
    ['InternalServerError + Retry-After', { error: 'InternalServerError' }, 0, { kind: 'retry', reason: gcm('InternalServerError'), retryAfterMs: 0 }],
    ['InvalidRegistration', { error: 'InvalidRegistration' }, undefined, { kind: 'failed', reason: gcm('InvalidRegistration') }],
    ['MissingRegistration', { error: 'MissingRegistration' }, undefined, { kind: 'failed', reason: gcm('MissingRegistration') }],
    ['MessageTooBig', { error: 'MessageTooBig' }, 3000, { kind: 'failed', reason: gcm('MessageTooBig') }],
    ['InvalidDataKey', { error: 'InvalidDataKey' }, undefined, { kind: 'failed', reason: gcm('InvalidDataKey') }],
    ['MismatchSenderId', { error: 'MismatchSenderId' }, undefined, { kind: 'failed', reason: gcm('MismatchSenderId'), configProblem: true }],
    ['InvalidApnsCredential', { error: 'InvalidApnsCredential' }, undefined, { kind: 'failed', reason: gcm('InvalidApnsCredential'), configProblem: true }],
    ['unknown error', { error: 'SomethingNew' }, undefined, { kind: 'failed', reason: gcm('SomethingNew') }],
    ['neither id nor error', {}, undefined, { kind: 'retry', reason: gcm('bad_response') }],
    ['empty error', { error: '' }, undefined, { kind: 'retry', reason: gcm('bad_response') }],
    ['error not a string', { error: 5 }, undefined, { kind: 'retry', reason: gcm('bad_response') }],
    ['empty message id', { message_id: '' }, undefined, { kind: 'retry', reason: gcm('bad_response') }],
    ['null entry', null, undefined, { kind: 'retry', reason: gcm('bad_response') }],
    ['string entry', 'ok', 2000, { kind: 'retry', reason: gcm('bad_response'), retryAfterMs: 2000 }],
  ];
  for (const [name, result, retryAfterMs, expected] of cases) {
    assert.deepEqual(gcmOutcomes(200, single(result), retryAfterMs, ['t']), [expected], name);
  }
});

test('NotRegistered is the only error that puts a token on the purge list', () => {
  const errors = ['NotRegistered', 'InvalidRegistration', 'MismatchSenderId', 'Unavailable', 'MessageTooBig', 'InvalidPackageName'];
  const listed = errors.filter((error) => {
    const [outcome] = gcmOutcomes(200, single({ error }), undefined, ['t']);
    return outcome?.kind === 'failed' && outcome.notRegistered === true;
  });
  assert.deepEqual(listed, ['NotRegistered']);
});

test('multicast results are matched to tokens by position', () => {
  const body = JSON.stringify({
    results: [{ message_id: '1' }, { error: 'NotRegistered' }, { message_id: '3', registration_id: 'c-new' }, { error: 'Unavailable' }],
  });
  assert.deepEqual(gcmOutcomes(200, body, undefined, ['a', 'b', 'c', 'd']), [
    { kind: 'delivered' },
    { kind: 'failed', reason: gcm('NotRegistered'), notRegistered: true },
    { kind: 'delivered', canonical: 'c-new' },
    { kind: 'retry', reason: gcm('Unavailable') },
  ]);
});

test('a 200 that is not the documented shape is a retryable fault of the endpoint for every token', () => {
  const bad = { kind: 'retry', reason: gcm('bad_response') };
  const cases: [string, unknown][] = [
    ['JSON null', null],
    ['a number', 200],
    ['a string', 'ok'],
    ['an array', [{ message_id: '1' }, { message_id: '2' }]],
    ['no results', { success: 2 }],
    ['results not an array', { results: { message_id: '1' } }],
    ['too few results', { results: [{ message_id: '1' }] }],
    ['too many results', { results: [{ message_id: '1' }, { message_id: '2' }, { message_id: '3' }] }],
  ];
  for (const [name, body] of cases) {
    assert.deepEqual(gcmOutcomes(200, JSON.stringify(body), undefined, ['a', 'b']), [bad, bad], name);
  }
  for (const text of [NOT_JSON, '', '{"results":[', 'ok']) assert.deepEqual(gcmOutcomes(200, text, undefined, ['a', 'b']), [bad, bad], JSON.stringify(text));
  assert.deepEqual(gcmOutcomes(200, NOT_JSON, 1500, ['a']), [{ ...bad, retryAfterMs: 1500 }], 'Retry-After is kept');
});

test('any status but 200 decides every token on its own, whatever the body', () => {
  const cases: [number, number | undefined, Outcome][] = [
    [400, undefined, { kind: 'failed', reason: http(400) }],
    [401, undefined, { kind: 'failed', reason: http(401), configProblem: true }],
    [429, undefined, { kind: 'retry', reason: http(429), floorMs: 60_000, quota: true }],
    [500, undefined, { kind: 'retry', reason: http(500) }],
    [503, 7000, { kind: 'retry', reason: http(503), retryAfterMs: 7000 }],
    [201, undefined, { kind: 'failed', reason: http(201) }],
  ];
  const looksFine = JSON.stringify({ results: [{ message_id: '1' }, { message_id: '2' }] });
  for (const [status, retryAfterMs, expected] of cases) {
    assert.deepEqual(gcmOutcomes(status, NOT_JSON, retryAfterMs, ['a', 'b']), [expected, expected], `HTTP ${status}`);
    assert.deepEqual(gcmOutcomes(status, looksFine, retryAfterMs, ['a', 'b']), [expected, expected], `HTTP ${status} with results`);
  }
});

test('no tokens, no outcomes', () => {
  assert.deepEqual(gcmOutcomes(200, '{"results":[]}', undefined, []), []);
  assert.deepEqual(gcmOutcomes(500, NOT_JSON, undefined, []), []);
});
