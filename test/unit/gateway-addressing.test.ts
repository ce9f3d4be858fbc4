/**
 * The gateway's addressing: request targets in origin and absolute form, Host names with ports,
 * IPv6 literals and trailing dots, virtual-hosted buckets under the longest matching domain, and
 * path style everywhere else.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addressOf, hostName, requestTarget, virtualHostBucket } from '../../src/gateway/addressing.js';

describe('gateway addressing', () => {
  it('requestTarget: origin form as it is, the Host header its host; absolute form reduced to its path, its authority the host', () => {
    assert.deepEqual(requestTarget('/photos/a%20b.txt?x=1', 'GW.test:9000'), { url: '/photos/a%20b.txt?x=1', host: 'gw.test' });
    assert.deepEqual(requestTarget('http://photos.gw.test:9000/a.txt?list-type=2', 'photos.gw.test:9000'), { url: '/a.txt?list-type=2', host: 'photos.gw.test' });
    assert.deepEqual(requestTarget('http://photos.gw.test:9000', undefined), { url: '/', host: 'photos.gw.test' });
    assert.deepEqual(requestTarget('https://u:p@photos.gw.test?prefix=a', undefined), { url: '/?prefix=a', host: 'photos.gw.test' });
    // RFC 9112 §3.2.2: the authority of an absolute-form target, not the Host header.
    assert.deepEqual(requestTarget('http://photos.gw.test/k', 'other.example'), { url: '/k', host: 'photos.gw.test' });
    assert.deepEqual(requestTarget('/', undefined), { url: '/', host: '' });
    // A path that merely looks like a scheme further in is a key.
    assert.deepEqual(requestTarget('/photos/http://x', 'gw.test'), { url: '/photos/http://x', host: 'gw.test' });
  });

  it('hostName: lower case, port dropped, IPv6 literal kept whole, a trailing dot dropped', () => {
    assert.equal(hostName('Photos.GW.test:9000'), 'photos.gw.test');
    assert.equal(hostName('[::1]:9000'), '[::1]');
    assert.equal(hostName('[::1]'), '[::1]');
    assert.equal(hostName('photos.gw.test.'), 'photos.gw.test');
    assert.equal(hostName('photos.gw.test.:80'), 'photos.gw.test');
    assert.equal(hostName(''), '');
  });

  it('virtualHostBucket: the labels before a configured domain; the domain itself and any other host are path style', () => {
    const domains = ['gw.test', 's3.gw.test', 'example.com'];
    assert.equal(virtualHostBucket('photos.gw.test', domains), 'photos');
    assert.equal(virtualHostBucket('my.dotted.bucket.gw.test', domains), 'my.dotted.bucket');
    // The longest domain wins: under s3.gw.test the bucket is what precedes it.
    assert.equal(virtualHostBucket('photos.s3.gw.test', domains), 'photos');
    assert.equal(virtualHostBucket('s3.gw.test', domains), undefined, 's3.gw.test is itself a domain, not bucket s3 of gw.test');
    assert.equal(virtualHostBucket('gw.test', domains), undefined);
    assert.equal(virtualHostBucket('xgw.test', domains), undefined, 'a suffix that is not a whole label');
    assert.equal(virtualHostBucket('127.0.0.1', domains), undefined);
    assert.equal(virtualHostBucket('photos.gw.test', []), undefined, 'no domains: path style only');
    assert.equal(virtualHostBucket('', domains), undefined);
  });

  it('addressOf: path style splits at the first slash; a virtual-hosted bucket takes the whole path as the key', () => {
    assert.deepEqual(addressOf('/photos/2024/a.jpg', undefined), { bucket: 'photos', key: '2024/a.jpg', virtualHosted: false });
    assert.deepEqual(addressOf('/photos', undefined), { bucket: 'photos', key: '', virtualHosted: false });
    assert.deepEqual(addressOf('/photos/', undefined), { bucket: 'photos', key: '', virtualHosted: false });
    assert.deepEqual(addressOf('/', undefined), { bucket: '', key: '', virtualHosted: false });
    assert.deepEqual(addressOf('/2024/a.jpg', 'photos'), { bucket: 'photos', key: '2024/a.jpg', virtualHosted: true });
    assert.deepEqual(addressOf('/', 'photos'), { bucket: 'photos', key: '', virtualHosted: true });
    // S3 keys may start with a slash: `//k` under a virtual host is the key `/k`.
    assert.deepEqual(addressOf('//k', 'photos'), { bucket: 'photos', key: '/k', virtualHosted: true });
  });
});
