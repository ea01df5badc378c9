// FCM v1 answers → outcomes, one row per documented case.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Outcome, Reason } from '../../../src/providers/provider.js';
import { isStaleAccessToken, parseRpcError, sendOutcome, tokenAnswer } from '../../../src/providers/fcm/outcome.js';

function rpc(code: number, status: string, errorCode?: string): string {
  const details = errorCode ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] : [];
  return JSON.stringify({ error: { code, message: 'm', status, details } });
}

const HTML = '<html><body>Bad Gateway</body></html>';
const fcm = (code: string): Reason => ({ source: 'fcm', code });
const http = (code: number): Reason => ({ source: 'http', code: String(code) });
const token = (code: string): Reason => ({ source: 'token', code });

describe('sendOutcome', () => {
  const rows: Array<[string, number, string, number | undefined, Outcome]> = [
    ['200 success', 200, '{"name":"projects/p/messages/1"}', undefined, { kind: 'delivered' }],
    ['200 HTML came from something in between', 200, HTML, undefined, { kind: 'retry', reason: fcm('bad_response') }],
    ['UNREGISTERED', 404, rpc(404, 'NOT_FOUND', 'UNREGISTERED'), undefined, { kind: 'failed', reason: fcm('UNREGISTERED'), notRegistered: true }],
    ['SENDER_ID_MISMATCH is never notRegistered', 403, rpc(403, 'PERMISSION_DENIED', 'SENDER_ID_MISMATCH'), undefined, { kind: 'failed', reason: fcm('SENDER_ID_MISMATCH'), configProblem: true }],
    ['INVALID_ARGUMENT', 400, rpc(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'), undefined, { kind: 'failed', reason: fcm('INVALID_ARGUMENT') }],
    ['THIRD_PARTY_AUTH_ERROR', 401, rpc(401, 'UNAUTHENTICATED', 'THIRD_PARTY_AUTH_ERROR'), undefined, { kind: 'failed', reason: fcm('THIRD_PARTY_AUTH_ERROR'), configProblem: true }],
    ['QUOTA_EXCEEDED with Retry-After', 429, rpc(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED'), 5000, { kind: 'retry', reason: fcm('QUOTA_EXCEEDED'), retryAfterMs: 5000, quota: true }],
    ['QUOTA_EXCEEDED without Retry-After waits the 60 s floor', 429, rpc(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED'), undefined, { kind: 'retry', reason: fcm('QUOTA_EXCEEDED'), floorMs: 60_000, quota: true }],
    ['UNAVAILABLE', 503, rpc(503, 'UNAVAILABLE', 'UNAVAILABLE'), undefined, { kind: 'retry', reason: fcm('UNAVAILABLE') }],
    ['UNAVAILABLE with Retry-After', 503, rpc(503, 'UNAVAILABLE', 'UNAVAILABLE'), 2000, { kind: 'retry', reason: fcm('UNAVAILABLE'), retryAfterMs: 2000 }],
    ['INTERNAL', 500, rpc(500, 'INTERNAL', 'INTERNAL'), undefined, { kind: 'retry', reason: fcm('INTERNAL') }],
    ['UNSPECIFIED_ERROR: by status', 500, rpc(500, 'UNKNOWN', 'UNSPECIFIED_ERROR'), undefined, { kind: 'retry', reason: fcm('UNKNOWN') }],
    ['an unknown error code: by status', 400, rpc(400, 'FAILED_PRECONDITION', 'SOMETHING_NEW'), undefined, { kind: 'failed', reason: fcm('FAILED_PRECONDITION') }],
    ['a 404 without FcmError is not UNREGISTERED', 404, rpc(404, 'NOT_FOUND'), undefined, { kind: 'failed', reason: fcm('NOT_FOUND') }],
    ['403 PERMISSION_DENIED without FcmError', 403, rpc(403, 'PERMISSION_DENIED'), undefined, { kind: 'failed', reason: fcm('PERMISSION_DENIED'), configProblem: true }],
    ['429 HTML without Retry-After', 429, HTML, undefined, { kind: 'retry', reason: http(429), floorMs: 60_000, quota: true }],
    ['502 HTML', 502, HTML, undefined, { kind: 'retry', reason: http(502) }],
    ['503 HTML with Retry-After', 503, HTML, 7000, { kind: 'retry', reason: http(503), retryAfterMs: 7000 }],
    ['400 empty body', 400, '', undefined, { kind: 'failed', reason: http(400) }],
    ['error body of the wrong shape', 500, '{"error":"oops"}', undefined, { kind: 'retry', reason: http(500) }],
    ['details that are not an array', 404, JSON.stringify({ error: { code: 404, status: 'NOT_FOUND', details: 'UNREGISTERED' } }), undefined, { kind: 'failed', reason: fcm('NOT_FOUND') }],
  ];
  for (const [name, status, body, retryAfterMs, expected] of rows) {
    test(name, () => assert.deepEqual(sendOutcome(status, body, retryAfterMs), expected));
  }
});

describe('isStaleAccessToken', () => {
  test('a plain 401 asks for a new token; THIRD_PARTY_AUTH_ERROR and other statuses do not', () => {
    assert.equal(isStaleAccessToken(401, rpc(401, 'UNAUTHENTICATED')), true);
    assert.equal(isStaleAccessToken(401, ''), true);
    assert.equal(isStaleAccessToken(401, rpc(401, 'UNAUTHENTICATED', 'THIRD_PARTY_AUTH_ERROR')), false);
    assert.equal(isStaleAccessToken(403, rpc(403, 'PERMISSION_DENIED')), false);
  });
});

describe('parseRpcError', () => {
  test('finds the FcmError among other details', () => {
    const body = JSON.stringify({
      error: {
        code: 400,
        status: 'INVALID_ARGUMENT',
        details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest' }, { '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'INVALID_ARGUMENT' }],
      },
    });
    assert.deepEqual(parseRpcError(body), { status: 'INVALID_ARGUMENT', errorCode: 'INVALID_ARGUMENT' });
    assert.equal(parseRpcError('not json'), undefined);
    assert.equal(parseRpcError('[]'), undefined);
  });
});

describe('tokenAnswer', () => {
  const rows: Array<[string, number, string, number | undefined, unknown]> = [
    ['a grant', 200, '{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}', undefined, { kind: 'granted', accessToken: 'ya29.x', expiresInMs: 3_599_000 }],
    ['a grant without expires_in lives an hour', 200, '{"access_token":"ya29.x"}', undefined, { kind: 'granted', accessToken: 'ya29.x', expiresInMs: 3_600_000 }],
    ['200 without a token', 200, '{"token_type":"Bearer"}', undefined, { kind: 'retry', reason: token('bad_response') }],
    ['200 HTML', 200, HTML, undefined, { kind: 'retry', reason: token('bad_response') }],
    ['400 invalid_grant (bad key)', 400, '{"error":"invalid_grant","error_description":"Invalid JWT Signature."}', undefined, { kind: 'failed', reason: token('invalid_grant'), configProblem: true }],
    ['401 invalid_client', 401, '{"error":"invalid_client"}', undefined, { kind: 'failed', reason: token('invalid_client'), configProblem: true }],
    ['404 (wrong token_uri)', 404, HTML, undefined, { kind: 'failed', reason: token('http_404'), configProblem: true }],
    ['an error field that is not an OAuth code is not echoed', 400, '{"error":"<b>secret-ish text</b>"}', undefined, { kind: 'failed', reason: token('http_400'), configProblem: true }],
    ['503', 503, '', undefined, { kind: 'retry', reason: token('http_503') }],
    ['503 with Retry-After', 503, '', 3000, { kind: 'retry', reason: token('http_503'), retryAfterMs: 3000 }],
    ['429', 429, '', undefined, { kind: 'retry', reason: token('http_429'), floorMs: 60_000, quota: true }],
  ];
  for (const [name, status, body, retryAfterMs, expected] of rows) {
    test(name, () => assert.deepEqual(tokenAnswer(status, body, retryAfterMs), expected));
  }
});
