/**
 * Traces: each ReadPath read is a `Manager <operation>` span with upstream's attribute names.
 * The provider is registered *after* ReadPath's module was loaded (its tracer is taken at
 * import time): the API's proxy tracer must still delegate to it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { ObjectLocation } from '../../src/types.js';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';
import { finished } from 'node:stream/promises';
import { ReadPathError } from '../../src/errors.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

function lastSpan(): ReadableSpan {
  const spans = exporter.getFinishedSpans();
  const span = spans[spans.length - 1];
  assert.ok(span !== undefined, 'a span was recorded');
  return span;
}

describe('tracing (in-memory OpenTelemetry provider)', () => {
  before(() => {
    assert.equal(trace.setGlobalTracerProvider(provider), true, 'provider registered');
  });
  after(async () => {
    await provider.shutdown();
    trace.disable();
  });

  it('a located GET is a "Manager GetObject" span with every s3o attribute', async () => {
    const { rp, seed } = await openMemoryReadPath(3);
    try {
      seed('photos/cat.jpg', 'meow', ['b1', 'b2']);
      exporter.reset();
      await rp.get('photos/cat.jpg');
      const span = lastSpan();
      assert.equal(span.name, 'Manager GetObject');
      assert.deepEqual(span.attributes, {
        's3o.key': 'photos/cat.jpg',
        's3o.backend.name': 'b1',
        's3o.failover': false,
        's3o.degraded_mode': false,
        's3o.cache_hit': false,
        's3o.parallel_broadcast': false,
        's3o.object.size': 4,
      });
      assert.equal(span.status.code, SpanStatusCode.UNSET);
      assert.equal(exporter.getFinishedSpans().length, 1, 'one span per read');
    } finally {
      await rp.close();
    }
  });

  it('failover, HEAD, and a failed read', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(3);
    try {
      seed('k', 'bytes', ['b1', 'b2']);
      backend('b1').delete('k');
      exporter.reset();
      await rp.get('k');
      assert.equal(lastSpan().attributes['s3o.failover'], true);
      assert.equal(lastSpan().attributes['s3o.backend.name'], 'b2');

      await rp.head('k');
      assert.equal(lastSpan().name, 'Manager HeadObject');
      assert.equal(lastSpan().attributes['s3o.object.size'], 5);

      await assert.rejects(rp.get('missing'));
      const failed = lastSpan();
      assert.equal(failed.name, 'Manager GetObject');
      assert.equal(failed.attributes['s3o.key'], 'missing');
      assert.equal(failed.attributes['s3o.error.code'], 'OBJECT_NOT_FOUND');
      assert.equal(failed.status.code, SpanStatusCode.ERROR);
    } finally {
      await rp.close();
    }
  });

  it('reads answered without a backend: a HEAD from the row (metadata), get and head from the object cache (cache)', async () => {
    const { rp, seed, store } = await openMemoryReadPath(2, { cache: { enabled: true } });
    try {
      seed('k', 'bytes', ['b1']);
      const [row] = await store.getAllObjectLocations('k');
      store.add({ ...(row as ObjectLocation), objectKey: 'e', etag: '"e"' });
      exporter.reset();
      await rp.head('e');
      assert.deepEqual([lastSpan().name, lastSpan().attributes['s3o.backend.name'], lastSpan().attributes['s3o.object.size']], ['Manager HeadObject', 'metadata', 5]);
      await rp.get('k');
      assert.equal(lastSpan().attributes['s3o.backend.name'], 'b1', 'the first read fills the cache');
      await rp.get('k');
      assert.deepEqual([lastSpan().name, lastSpan().attributes['s3o.backend.name']], ['Manager GetObject', 'cache']);
      await rp.head('k');
      assert.deepEqual([lastSpan().name, lastSpan().attributes['s3o.backend.name']], ['Manager HeadObject', 'cache']);
      (await rp.getStream('k')).body.resume();
      assert.deepEqual([lastSpan().name, lastSpan().attributes['s3o.backend.name']], ['Manager GetObject', 'cache']);
      assert.equal(exporter.getFinishedSpans().length, 5, 'one span per read');
    } finally {
      await rp.close();
    }
  });

  it('getStream (the gateway\'s GETs): a "Manager GetObject" span up to the answer, failover and failures included', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(3);
    try {
      seed('s', 'streamed bytes', ['b1', 'b2']);
      backend('b1').delete('s');
      exporter.reset();
      const o = await rp.getStream('s', { range: 'bytes=2-5' });
      const span = lastSpan();
      assert.equal(span.name, 'Manager GetObject');
      assert.deepEqual(
        [span.attributes['s3o.key'], span.attributes['s3o.backend.name'], span.attributes['s3o.failover'], span.attributes['s3o.object.size']],
        ['s', 'b2', true, 4],
      );
      // Read to its end: a stream still being read when its reader closes ends with an error.
      await finished(o.body.resume());
      await assert.rejects(rp.getStream('nope'));
      assert.equal(lastSpan().attributes['s3o.error.code'], 'OBJECT_NOT_FOUND');
      assert.equal(lastSpan().status.code, SpanStatusCode.ERROR);
      assert.equal(exporter.getFinishedSpans().length, 2);
    } finally {
      await rp.close();
    }
  });

  it('a degraded getStream (the gateway\'s GET) is one GetObject read: one span, cache_hit from the location cache, GetObject metrics', async () => {
    const { rp, seed, store } = await openMemoryReadPath(3);
    try {
      seed('k', 'streamed bytes', ['b2']);
      store.setAvailable(false);
      exporter.reset();
      await finished((await rp.getStream('k')).body.resume());
      await finished((await rp.getStream('k')).body.resume());
      const spans = exporter.getFinishedSpans();
      assert.deepEqual(spans.map((s) => s.name), ['Manager GetObject', 'Manager GetObject'], 'one span per read, no HEAD span of its own');
      assert.deepEqual(spans.map((s) => [s.attributes['s3o.degraded_mode'], s.attributes['s3o.cache_hit'], s.attributes['s3o.backend.name']]), [[true, false, 'b2'], [true, true, 'b2']]);
      const r = rp.recorder;
      assert.deepEqual(
        [r.count('degraded_reads_total', { operation: 'GetObject' }), r.count('degraded_cache_hits_total', { operation: 'GetObject' }), r.count('degraded_reads_total', { operation: 'HeadObject' })],
        [2, 1, 0],
      );
    } finally {
      await rp.close();
    }
  });

  it('degraded mode: broadcast, then a location cache hit; parallel_broadcast follows the config', async () => {
    for (const parallel of [false, true]) {
      const { rp, seed, store } = await openMemoryReadPath(3, { circuit_breaker: { parallel_broadcast: parallel } });
      try {
        seed('k', 'bytes', ['b2']);
        store.setAvailable(false);
        exporter.reset();
        await rp.get('k');
        const first = lastSpan().attributes;
        assert.equal(first['s3o.degraded_mode'], true);
        assert.equal(first['s3o.cache_hit'], false);
        assert.equal(first['s3o.backend.name'], 'b2');
        assert.equal(first['s3o.parallel_broadcast'], parallel);
        assert.equal(first['s3o.failover'], false);
        await rp.get('k');
        const second = lastSpan().attributes;
        assert.equal(second['s3o.degraded_mode'], true);
        assert.equal(second['s3o.cache_hit'], true);
      } finally {
        await rp.close();
      }
    }
  });

  it('a failed read\'s status message and attributes are masked as logs are, and scrubbed of the configured secrets', async () => {
    const secretKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const { rp, seed, backend } = await openMemoryReadPath(2, {
      backends: ['b1', 'b2'].map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'AKIDEXAMPLE', secret_access_key: secretKey })),
    });
    try {
      // A key that quotes a URL with its password, as a log line of it would be masked.
      const key = 'imports/postgres://reader:keypass9@db/x';
      seed('k', 'bytes', ['b1', 'b2']);
      seed(key, 'bytes', ['b1', 'b2']);
      // What a driver's or an SDK's message can quote: a presigned URL, a connection URL, a credential.
      const quoting = (name: string) => async (): Promise<never> => {
        throw new ReadPathError('BACKEND_ERROR', `${name}: GET https://s3.example.com/data/k?X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=sig0123456789abcdef&X-Amz-Security-Token=tok0123456789 failed; store postgres://reader:hunter2pw@db:5432/s3o; signing key ${secretKey}`);
      };
      for (const b of ['b1', 'b2']) Object.assign(backend(b), { get: quoting(b), head: quoting(b) });
      exporter.reset();
      await assert.rejects(rp.get('k'), /hunter2pw/, 'the error the caller gets is unchanged');
      await assert.rejects(rp.head(key));
      const spans = exporter.getFinishedSpans();
      assert.equal(spans.length, 2);
      for (const span of spans) {
        assert.equal(span.status.code, SpanStatusCode.ERROR);
        assert.equal(span.attributes['s3o.error.code'], 'BACKEND_ERROR');
        const exported = JSON.stringify({ status: span.status, attributes: span.attributes, events: span.events });
        for (const secret of ['sig0123456789abcdef', 'tok0123456789', 'hunter2pw', secretKey, 'keypass9']) {
          assert.ok(!exported.includes(secret), `${secret} reaches the exporter: ${exported}`);
        }
      }
      const message = spans[0]?.status.message ?? '';
      assert.match(message, /^b2: GET https:\/\/s3\.example\.com\/data\/k\?X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=\(redacted\)&X-Amz-Security-Token=\(redacted\) failed/, 'the rest of the message is kept');
      assert.match(message, /postgres:\/\/reader:\(redacted\)@db:5432\/s3o; signing key \(redacted\)$/);
      assert.equal(spans[1]?.attributes['s3o.key'], 'imports/postgres://reader:(redacted)@db/x');
    } finally {
      await rp.close();
    }
  });
});
