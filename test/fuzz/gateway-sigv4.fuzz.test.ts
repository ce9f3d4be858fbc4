/**
 * Fuzzing the gateway's SigV4 verifier: malformed Authorization headers, presigned queries,
 * URLs, header maps, raw header lists and clocks never make it throw, and every refusal is a 400
 * or 403 with a known S3 code; valid requests mutated one character at a time are either refused
 * or — when the mutation is only another encoding of the same request (`%7E` for `~`, hex case,
 * spaces in the header) — accepted with exactly the string to sign of the original, so nothing
 * that was not signed is ever accepted. The canonical forms are total, idempotent, and agree for
 * every way a client may encode the same key or parameter.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  INTERNAL_FAILURE_MESSAGE, SigV4Verifier, type SigV4ErrorCode, type VerifyInput, type VerifyResult,
} from '../../src/gateway/sigv4-verify.js';
import {
  canonicalQueryString, canonicalUri, decodePathComponent, decodeQueryComponent, parseCanonicalQuery,
} from '../../src/gateway/canonical.js';
import { ALICE, BOB, T0, amzDate, encodeKey, sigv4Encode, smithyPresigned, smithySigned } from '../helpers/sigv4-requests.js';
import { fcParams } from '../helpers/property-params.js';

const CODES: ReadonlySet<SigV4ErrorCode> = new Set<SigV4ErrorCode>([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'RequestTimeTooSkewed', 'AuthorizationHeaderMalformed',
  'AuthorizationQueryParametersError', 'InvalidArgument', 'InvalidRequest', 'InvalidURI',
]);

const verifier = new SigV4Verifier([ALICE, BOB], { now: () => T0.getTime() });
/** The same access key with another secret: it refuses everything, showing the string to sign. */
const shadow = new SigV4Verifier([{ ...ALICE, secretAccessKey: 'shadow-secret' }, { ...BOB, secretAccessKey: 'shadow-secret' }], { now: () => T0.getTime() });

function verifyChecked(v: SigV4Verifier, input: VerifyInput): VerifyResult {
  let r: VerifyResult;
  try {
    r = v.verify(input);
  } catch (e) {
    assert.fail(`verify threw ${String(e)} for ${JSON.stringify(input)}`);
  }
  if (!r.ok) {
    assert.ok(r.status === 400 || r.status === 403, `status ${String(r.status)}`);
    assert.ok(CODES.has(r.code), `code ${r.code}`);
    assert.ok(r.message.length > 0);
    assert.notEqual(r.message, INTERNAL_FAILURE_MESSAGE, `an exception inside verify for ${JSON.stringify(input)}`);
    for (const value of Object.values(r.details ?? {})) assert.equal(typeof value, 'string');
  }
  return r;
}

/** The string to sign the verifier computes for a request (via the shadow credential), if it gets that far. */
function stringToSign(input: VerifyInput): string | undefined {
  const r = shadow.verify(input);
  return !r.ok && r.code === 'SignatureDoesNotMatch' ? r.details?.['StringToSign'] : undefined;
}

// ---- generators ------------------------------------------------------------------------------

/** sigv4Encode, or the string itself when it holds a lone surrogate (then it reaches the verifier raw). */
function encodeLoosely(s: string): string {
  try {
    return sigv4Encode(s);
  } catch {
    return s;
  }
}

const noise = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('%', '2', 'F', 'f', 'z', '+', '/', '=', '&', '?', ' ', '~', ',', ';', 'A', 'é', '\u0000', '\uD800'), maxLength: 20 }),
  fc.constantFrom('', ' ', '%', '%2', '%zz', '%FF', '%C3', '\uD800', '\r\n', 'AWS4-HMAC-SHA256', 'UNSIGNED-PAYLOAD'),
);
const day = fc.oneof(fc.constant('20260301'), fc.constant('20260302'), fc.stringMatching(/^\d{8}$/), noise);
const credentialValue = fc.oneof(
  fc.tuple(fc.constantFrom(ALICE.accessKeyId, BOB.accessKeyId, 'AKIAUNKNOWN', '', 'a/b'), day, fc.oneof(fc.constantFrom('us-east-1', 'auto', ''), noise),
    fc.constantFrom('s3', 'ec2', ''), fc.constantFrom('aws4_request', 'aws4', '')).map((parts) => parts.join('/')),
  fc.array(noise, { maxLength: 7 }).map((parts) => parts.join('/')),
);
const signedHeadersValue = fc.oneof(
  fc.constantFrom('host', 'host;x-amz-date', 'host;x-amz-content-sha256;x-amz-date', 'Host', 'host;host', '', ';', 'range;x-amz-date'),
  fc.array(fc.oneof(fc.constantFrom('host', 'x-amz-date', 'range', 'date'), noise), { maxLength: 5 }).map((n) => n.join(';')),
);
const signatureValue = fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.stringMatching(/^[0-9a-fA-F]{0,70}$/), noise);
const authorization = fc.oneof(
  noise,
  fc.tuple(
    fc.constantFrom('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA256 ', 'AWS', 'AWS4-ECDSA-P256-SHA256', 'Bearer', ''),
    fc.array(fc.tuple(fc.constantFrom('Credential', 'SignedHeaders', 'Signature', 'Other', ''), fc.oneof(credentialValue, signedHeadersValue, signatureValue), fc.boolean()), { maxLength: 5 }),
    fc.constantFrom(', ', ',', ' , ', ',,'),
  ).map(([algo, parts, sep]) => `${algo} ${parts.map(([k, v, eq]) => (eq ? `${k}=${v}` : k + v)).join(sep)}`),
);
const amzDateValue = fc.oneof(
  fc.constant(amzDate(T0)),
  fc.date({ min: new Date('1969-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map(amzDate),
  fc.stringMatching(/^\d{8}T\d{6}Z$/),
  noise,
);
const queryName = fc.oneof(
  fc.constantFrom('X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature',
    'X-Amz-Security-Token', 'x-amz-content-sha256', 'X-Amz-Content-Sha256', 'AWSAccessKeyId', 'Signature', 'prefix', 'list-type'),
  noise,
);
const queryValue = fc.oneof(
  fc.constantFrom('AWS4-HMAC-SHA256', '0', '1', '604800', '604801', '-1', 'UNSIGNED-PAYLOAD', amzDate(T0)),
  credentialValue.map(encodeLoosely), signedHeadersValue.map(encodeLoosely), signatureValue, amzDateValue, noise,
);
const rawQuery = fc.array(fc.tuple(queryName, queryValue, fc.boolean(), fc.boolean()), { maxLength: 9 })
  .map((ps) => ps.map(([n, v, encode, eq]) => (encode ? encodeLoosely(n) : n) + (eq ? `=${encode ? v : v.replace(/&/g, '')}` : '')).join('&'));
const rawPath = fc.oneof(
  fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }).map(encodeKey), noise), { maxLength: 5 }).map((segs) => `/${segs.join('/')}`),
  noise,
);
const rawUrl = fc.oneof(
  fc.tuple(rawPath, fc.option(rawQuery)).map(([p, q]) => (q === null ? p : `${p}?${q}`)),
  noise,
);
const headerName = fc.oneof(
  fc.constantFrom('authorization', 'Authorization', 'x-amz-date', 'X-Amz-Date', 'date', 'host', 'x-amz-content-sha256', 'range', 'x-amz-security-token'),
  fc.string({ unit: fc.constantFrom('a', 'b', '-', 'x', 'A'), minLength: 1, maxLength: 8 }),
);
const headerValue = (name: string): fc.Arbitrary<string | string[]> => {
  const base = name.toLowerCase() === 'authorization' ? authorization
    : name.toLowerCase() === 'x-amz-date' ? amzDateValue
      : name.toLowerCase() === 'date' ? fc.oneof(fc.constant(T0.toUTCString()), noise)
        : name.toLowerCase() === 'x-amz-content-sha256' ? fc.oneof(fc.constantFrom('UNSIGNED-PAYLOAD', 'STREAMING-X', 'e'.repeat(64)), noise)
          : noise;
  return fc.oneof({ weight: 4, arbitrary: base }, { weight: 1, arbitrary: fc.array(base, { minLength: 2, maxLength: 3 }) });
};
const headers = fc.array(headerName.chain((n) => headerValue(n).map((v) => [n, v] as const)), { maxLength: 8 })
  .map((pairs) => Object.fromEntries(pairs) as Record<string, string | string[]>);
const rawHeaders = fc.option(fc.array(noise, { maxLength: 9 }));
const inputNow = fc.option(fc.oneof(fc.date({ noInvalidDate: false }), fc.constant(T0)));
const method = fc.oneof(fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'DELETE', ''), noise);

/** Well-formed signatures (known or unknown keys, dates near and far) that get as far as the HMAC. */
const nearValid: fc.Arbitrary<VerifyInput> = fc.record({
  presigned: fc.boolean(),
  accessKeyId: fc.constantFrom(ALICE.accessKeyId, BOB.accessKeyId, 'AKIAUNKNOWN'),
  offsetMin: fc.constantFrom(0, 0, 0, -10, 14, 16, -20, 60 * 24),
  region: fc.constantFrom('us-east-1', 'auto', 'eu-west-1'),
  signed: fc.constantFrom('host', 'host;x-amz-date', 'host;x-amz-content-sha256;x-amz-date', 'host;range;x-amz-content-sha256;x-amz-date'),
  signature: signatureValue,
  expires: fc.constantFrom('1', '60', '3600', '604800'),
  payload: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('UNSIGNED-PAYLOAD', 'e'.repeat(64), 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD') }, { weight: 1, arbitrary: noise }),
  path: fc.oneof({ weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }).map((k) => `/photos/${encodeKey(k)}`) }, { weight: 1, arbitrary: rawPath }),
  extra: fc.option(rawQuery, { freq: 2 }),
  method,
}).map((c): VerifyInput => {
  const stamp = amzDate(new Date(T0.getTime() + c.offsetMin * 60_000));
  const credential = `${c.accessKeyId}/${stamp.slice(0, 8)}/${c.region}/s3/aws4_request`;
  const extra = c.extra === null || c.extra === '' ? '' : `&${c.extra}`;
  if (c.presigned) {
    const q = `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${encodeLoosely(credential)}&X-Amz-Date=${stamp}&X-Amz-Expires=${c.expires}`
      + `&X-Amz-SignedHeaders=${encodeLoosely(c.signed)}&X-Amz-Signature=${c.signature}${extra}`;
    return { method: c.method, rawUrl: `${c.path}?${q}`, headers: { host: '127.0.0.1:9000' } };
  }
  return {
    method: c.method, rawUrl: c.extra === null ? c.path : `${c.path}?${c.extra}`,
    headers: {
      host: '127.0.0.1:9000', 'x-amz-date': stamp, 'x-amz-content-sha256': c.payload, range: 'bytes=0-1',
      authorization: `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${c.signed}, Signature=${c.signature}`,
    },
  };
});

describe('the SigV4 verifier under malformed input', () => {
  it('never throws; every refusal is a 400 or 403 with a known S3 code', () => {
    const seen = new Map<string, number>();
    const garbage = fc.tuple(method, rawUrl, headers, rawHeaders, inputNow).map(([m, url, h, raw, now]) => {
      const input: VerifyInput = { method: m, rawUrl: url, headers: h };
      if (raw !== null) input.rawHeaders = raw;
      if (now !== null) input.now = now;
      return input;
    });
    fc.assert(fc.property(fc.oneof(garbage, nearValid), (input) => {
      const r = verifyChecked(verifier, input);
      assert.equal(r.ok, false, 'random input is never validly signed');
      if (!r.ok && r.code === 'SignatureDoesNotMatch') assert.ok(r.details?.['CanonicalRequest']?.startsWith(`${input.method}\n`));
      if (!r.ok) seen.set(r.code, (seen.get(r.code) ?? 0) + 1);
    }), fcParams(1500));
    // The generators reach every stage of verification, not just the first parse.
    console.log(`refusals: ${JSON.stringify(Object.fromEntries([...seen].sort()))}`);
  });

  it('a broken clock (NaN, ±Infinity) refuses rather than skips the time checks', () => {
    for (const clock of [NaN, Infinity, -Infinity]) {
      const v = new SigV4Verifier([ALICE], { now: () => clock });
      for (const rawUrl of ['/photos/k', `/photos/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${ALICE.accessKeyId}%2F20260301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260301T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=${'0'.repeat(64)}`]) {
        const r = verifyChecked(v, {
          method: 'GET', rawUrl, now: new Date(NaN),
          headers: { host: 'h', 'x-amz-date': amzDate(T0), authorization: rawUrl.includes('?') ? undefined : `AWS4-HMAC-SHA256 Credential=${ALICE.accessKeyId}/20260301/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}` },
        });
        assert.ok(!r.ok && (r.code === 'RequestTimeTooSkewed' || r.code === 'AccessDenied'), `${clock}: ${JSON.stringify(r)}`);
      }
    }
  });
});

describe('valid requests, mutated', () => {
  const originals: VerifyInput[] = [];
  before(async () => {
    const keys = ['k', 'dir with space/ü+~.txt', 'a%2Fb', "x!$&'()*,;=:@", 'é'.repeat(40)];
    for (const key of keys) {
      originals.push(await smithySigned({ key, query: { 'x-id': 'GetObject', prefix: 'a=b&c d' }, headers: { range: 'bytes=0-9' } }));
      originals.push(await smithySigned({ key, cred: BOB, region: 'auto', style: 'lower-hex' }));
      originals.push(await smithyPresigned({ key, query: { 'response-content-type': 'text/plain; q=1' }, style: 'raw-plus' }));
      originals.push(await smithySigned({ path: `/photos/${encodeKey(key).replace(/\//g, '%2F')}` }));
    }
    for (const o of originals) assert.equal(verifier.verify(o).ok, true, o.rawUrl);
  });

  const CHARS = ['%', '+', '/', '=', '&', ' ', '~', 'A', 'a', '0', 'f', ',', ';', '?', 'é', '\t', '2', 'F', '7', 'E'];
  type Edit = { target: 'url' | 'authorization' | 'header' | 'method' | 'date'; op: 'insert' | 'delete' | 'replace' | 'flip-case' | 'encode' | 'decode'; at: number; ch: string };
  const edit: fc.Arbitrary<Edit> = fc.record({
    target: fc.constantFrom('url', 'url', 'url', 'authorization', 'header', 'method', 'date'),
    op: fc.constantFrom('insert', 'delete', 'replace', 'flip-case', 'encode', 'decode'),
    at: fc.nat(),
    ch: fc.constantFrom(...CHARS),
  });

  function apply(s: string, e: Edit): string {
    if (s.length === 0) return e.op === 'insert' ? e.ch : s;
    const i = e.at % (s.length + (e.op === 'insert' ? 1 : 0));
    const c = s[i] ?? '';
    switch (e.op) {
      case 'insert': return s.slice(0, i) + e.ch + s.slice(i);
      case 'delete': return s.slice(0, i) + s.slice(i + 1);
      case 'replace': return s.slice(0, i) + e.ch + s.slice(i + 1);
      case 'flip-case': return s.slice(0, i) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + s.slice(i + 1);
      case 'encode': return s.slice(0, i) + `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}` + s.slice(i + 1);
      case 'decode': {
        const m = /%[0-9A-Fa-f]{2}/.exec(s.slice(i));
        if (m === null) return s;
        const j = i + m.index;
        return s.slice(0, j) + String.fromCharCode(parseInt(m[0].slice(1), 16)) + s.slice(j + 3);
      }
    }
  }

  function mutate(o: VerifyInput, e: Edit): VerifyInput {
    const h = { ...o.headers };
    switch (e.target) {
      case 'url': return { ...o, rawUrl: apply(o.rawUrl, e) };
      case 'method': return { ...o, method: apply(o.method, e) };
      case 'authorization': return h.authorization === undefined ? { ...o, rawUrl: apply(o.rawUrl, { ...e, at: o.rawUrl.indexOf('X-Amz-') + (e.at % 200) }) }
        : { ...o, headers: { ...h, authorization: apply(h.authorization, e) } };
      case 'header': return { ...o, headers: { ...h, [h.range !== undefined ? 'range' : 'host']: apply(h.range ?? h.host ?? '', e) } };
      case 'date': return h['x-amz-date'] === undefined ? { ...o, rawUrl: o.rawUrl.replace(/X-Amz-Date=[^&]*/, (d) => apply(d, e)) }
        : { ...o, headers: { ...h, 'x-amz-date': apply(h['x-amz-date'] as string, e) } };
    }
  }

  it('are refused with a 400/403, or accepted only when they sign exactly what the original signed', () => {
    let accepted = 0;
    fc.assert(fc.property(fc.nat(), fc.array(edit, { minLength: 1, maxLength: 3 }), (pick, edits) => {
      const original = originals[pick % originals.length] as VerifyInput;
      const mutated = edits.reduce(mutate, original);
      const r = verifyChecked(verifier, mutated);
      if (r.ok) {
        accepted++;
        const before = stringToSign(original);
        assert.ok(before !== undefined);
        assert.equal(stringToSign(mutated), before, `accepted ${JSON.stringify(mutated)} signs something else than ${JSON.stringify(original)}`);
      }
    }), fcParams(2000));
    console.log(`${accepted} mutations were re-encodings of the same request and verified`);
  });
});

describe('canonical forms under arbitrary input', () => {
  const ALLOWED = /^(?:[A-Za-z0-9\-._~/]|%[0-9A-F]{2})*$/;
  const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: fc.constantFrom('%', '2', 'f', 'F', 'z', '+', '/', '=', '&', '~', 'é'), maxLength: 30 }));

  it('are total, stay in SigV4 alphabet, and are idempotent', () => {
    fc.assert(fc.property(anyString, (s) => {
      const uri = canonicalUri(`/${s}`);
      if (uri !== null) {
        assert.match(uri, ALLOWED);
        assert.equal(canonicalUri(uri), uri);
      }
      const params = parseCanonicalQuery(s);
      if (params !== null) {
        for (const p of params) {
          assert.match(p.name, ALLOWED);
          assert.match(p.value, ALLOWED);
        }
        const q = canonicalQueryString(params);
        assert.equal(canonicalQueryString(parseCanonicalQuery(q) ?? []), q);
      }
      decodePathComponent(s);
      decodeQueryComponent(s);
    }), fcParams(2000));
  });

  /** A character of a SigV4-encoded string sent another way a client may: raw, or %XX in either case. */
  const reencodings = (encoded: string, choices: number[], inQuery: boolean): string => {
    let out = '';
    let k = 0;
    for (let i = 0; i < encoded.length; i++) {
      const choice = choices[k++ % Math.max(1, choices.length)] ?? 0;
      if (encoded[i] === '%') {
        const hex = encoded.slice(i + 1, i + 3);
        const byte = parseInt(hex, 16);
        const raw = String.fromCharCode(byte);
        // Raw only where it keeps its meaning: printable ASCII that is no delimiter here.
        const rawOk = byte > 0x20 && byte < 0x7f && !'%/?#'.includes(raw) && !(inQuery ? '&=+' : '').includes(raw);
        out += choice === 1 && rawOk ? raw : choice === 2 ? `%${hex.toLowerCase()}` : `%${hex}`;
        if (inQuery && byte === 0x20 && choice === 1) out = `${out.slice(0, -3)}+`;
        i += 2;
      } else {
        const c = encoded[i] as string;
        out += choice === 2 && c !== '/' ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}` : c;
      }
    }
    return out;
  };

  it('agree for every way a client may encode the same key or parameter, and decode back to it', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 40 });
    fc.assert(fc.property(text, text, fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 50 }), (key, value, choices) => {
      const path = `/photos/${encodeKey(key)}`;
      assert.equal(canonicalUri(path), path);
      assert.equal(canonicalUri(reencodings(path, choices, false)), path, reencodings(path, choices, false));
      assert.equal(decodePathComponent(reencodings(path, choices, false)), `/photos/${key}`);
      const v = sigv4Encode(value);
      const wire = reencodings(v, choices, true);
      const params = parseCanonicalQuery(`${sigv4Encode(key)}=${wire}`);
      assert.deepEqual(params, [{ name: sigv4Encode(key), value: v }], wire);
      assert.equal(decodeQueryComponent(wire), value);
    }), fcParams(1500));
  });
});
