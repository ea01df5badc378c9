// The report endpoints over HTTP: GoCM's exact shapes after a mixed batch,
// [] rather than GoCM's null once read, and read-and-clear that neither loses
// nor repeats an entry when two readers race each other and the deliveries.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startGcmDaemon } from '../support/gcm-daemon.js';
import { form, get, httpPort, RawHttp } from '../support/http-client.js';

describe("GoCM's report endpoints", () => {
  test('exact shapes after a mixed batch; the lists are cleared once read', async (t) => {
    const setup = await startGcmDaemon(['--http', '127.0.0.1:0']);
    t.after(() => setup.close());
    const client = await RawHttp.connect(httpPort(setup.daemon));
    t.after(() => client.close());
    const tokens = ['ok-1', 'canon-1', 'gone-1', 'invalid-1', 'ok-2', 'canon-2'];
    const sent = await client.request(form([...tokens.map((token) => ['tokens', token] as const), ['payload', '{"title":"Hi"}']]));
    assert.equal(sent.body, 'ok\n');
    await setup.daemon.settled();

    const report = await client.request(get('/gcm/report'));
    assert.equal(report.status, 200);
    assert.match(report.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(
      report.body,
      '{"attempts":6,"failures":2,"pending":0,"canonicals":2,"notregistered":1,"successes":4,"retries":0,"recovered":0}\n',
      "GoCM's keys first, in its order, without the protocol's ok",
    );
    const canonical = await client.request(get('/gcm/report/canonical'));
    assert.deepEqual(JSON.parse(canonical.body), {
      canonical_replacements: [
        { original: 'canon-1', canonical: 'new-canon-1' },
        { original: 'canon-2', canonical: 'new-canon-2' },
      ],
    });
    assert.equal((await client.request(get('/gcm/report/canonical'))).body, '{"canonical_replacements":[]}\n', 'cleared, and [] where GoCM said null');
    assert.equal((await client.request(get('/gcm/report/notregistered'))).body, '{"tokens":["gone-1"]}\n');
    assert.equal((await client.request(get('/gcm/report/notregistered'))).body, '{"tokens":[]}\n');
    assert.equal((await client.request(get('/gcm/report?app=default'))).status, 200, '?app= names one app');
  });

  test('two readers racing each other and the deliveries: every entry exactly once', { timeout: 60_000 }, async (t) => {
    // A little upstream latency, so that entries are recorded while the readers read.
    const setup = await startGcmDaemon(['--http', '127.0.0.1:0'], { latencyMs: 5 });
    t.after(() => setup.close());
    const port = httpPort(setup.daemon);
    const sender = await RawHttp.connect(port);
    t.after(() => sender.close());
    const readers = await Promise.all([RawHttp.connect(port), RawHttp.connect(port)]);
    t.after(() => readers.forEach((reader) => reader.close()));

    const sends = 40;
    const perSend = 25;
    let sending = true;
    const read = async (reader: RawHttp): Promise<{ gone: string[]; canon: string[]; reads: number }> => {
      const gone: string[] = [];
      const canon: string[] = [];
      let reads = 0;
      // One more round after the last delivery, to take what is left.
      for (let last = false; !last; reads++) {
        last = !sending && (await setup.daemon.request({ cmd: 'report' })).pending === 0;
        const [tokens, canonicals] = await Promise.all([reader.request(get('/gcm/report/notregistered')), reader.request(get('/gcm/report/canonical'))]);
        gone.push(...(JSON.parse(tokens.body) as { tokens: string[] }).tokens);
        canon.push(...(JSON.parse(canonicals.body) as { canonical_replacements: Array<{ original: string }> }).canonical_replacements.map((entry) => entry.original));
      }
      return { gone, canon, reads };
    };
    const reading = Promise.all(readers.map(read));
    const expectedGone: string[] = [];
    const expectedCanon: string[] = [];
    for (let s = 0; s < sends; s++) {
      const tokens = Array.from({ length: perSend }, (_, i) => (i % 2 === 0 ? `gone-${s}-${i}` : `canon-${s}-${i}`));
      expectedGone.push(...tokens.filter((token) => token.startsWith('gone')));
      expectedCanon.push(...tokens.filter((token) => token.startsWith('canon')));
      assert.equal((await sender.request(form([...tokens.map((token) => ['tokens', token] as const), ['payload', '{}']]))).body, 'ok\n');
    }
    sending = false;
    const results = await reading;
    const gone = results.flatMap((result) => result.gone);
    const canon = results.flatMap((result) => result.canon);
    assert.equal(gone.length, expectedGone.length, 'no not-registered token lost or returned twice');
    assert.deepEqual([...gone].sort(), [...expectedGone].sort());
    assert.equal(canon.length, expectedCanon.length, 'no canonical replacement lost or returned twice');
    assert.deepEqual([...canon].sort(), [...expectedCanon].sort());
    for (const [i, result] of results.entries()) t.diagnostic(`reader ${i}: ${result.reads} rounds, ${result.gone.length} + ${result.canon.length} entries`);
    assert.ok(results.every((result) => result.reads > 1), 'both readers read while entries were being recorded');
  });
});
