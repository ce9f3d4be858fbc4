/**
 * Credentials for the lean S3 transport: static keys as given; otherwise a provider (one
 * injected in the options, or the AWS SDK's default Node chain from
 * `@aws-sdk/credential-providers`: environment, shared profile, SSO, web identity,
 * container and instance metadata), cached and refreshed ahead of expiry.
 *
 * Refresh rule (the SDK's own, so both transports behave alike): credentials are reused until
 * 5 minutes before their `expiration`; inside that window the next caller starts one refresh
 * that every concurrent caller shares. While the old credentials are still valid for more than
 * {@link HARD_EXPIRY_MARGIN_MS} callers keep using them without waiting, so a batch does not
 * stall on the refresh, and a refresh that fails leaves them in use (retried no more often
 * than every {@link RETRY_AFTER_FAILURE_MS}). Only credentials that are expired, or about
 * to be, make callers wait for the refresh — and fail if it fails.
 */
import { ReadPathError, messageOf } from '../errors.js';
import { lazyModule, type LazyModule } from '../lazy-module.js';
import type { S3CredentialProvider, S3Credentials } from './s3-backend.js';

/** How long before `expiration` credentials are refreshed (the SDK's 5 minutes). */
export const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;
/** Credentials closer than this to expiry are not used while a refresh is pending. */
export const HARD_EXPIRY_MARGIN_MS = 30_000;
/** After a failed background refresh, the next attempt waits at least this long. */
export const RETRY_AFTER_FAILURE_MS = 10_000;

/** Options for {@link CredentialCache}. */
export interface CredentialCacheOptions {
  /** For error messages. */
  name: string;
  /** The clock, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** Cached credentials from one provider. */
export class CredentialCache {
  readonly #provider: S3CredentialProvider;
  readonly #name: string;
  readonly #now: () => number;
  #current: S3Credentials | undefined;
  #currentPromise: Promise<S3Credentials> | undefined;
  #refreshing: Promise<S3Credentials> | undefined;
  #retryAt = 0;
  /** Provider calls made (tests read it). */
  fetches = 0;

  constructor(provider: S3CredentialProvider, options: CredentialCacheOptions) {
    this.#provider = provider;
    this.#name = options.name;
    this.#now = options.now ?? Date.now;
  }

  /** Credentials to sign with now. */
  get(): Promise<S3Credentials> {
    const cur = this.#current;
    if (cur !== undefined) {
      const exp = cur.expiration?.getTime();
      if (exp === undefined) return this.#currentPromise as Promise<S3Credentials>;
      const left = exp - this.#now();
      if (left > REFRESH_BEFORE_EXPIRY_MS) return this.#currentPromise as Promise<S3Credentials>;
      if (left > HARD_EXPIRY_MARGIN_MS) {
        if (this.#refreshing === undefined && this.#now() >= this.#retryAt) {
          // Background refresh: a failure is remembered, not thrown at a caller.
          this.#refresh().catch(() => {
            this.#retryAt = this.#now() + RETRY_AFTER_FAILURE_MS;
          });
        }
        return this.#currentPromise as Promise<S3Credentials>;
      }
    }
    return this.#refreshing ?? this.#refresh();
  }

  #refresh(): Promise<S3Credentials> {
    this.fetches++;
    const p = (async () => {
      let creds: S3Credentials;
      try {
        creds = await this.#provider();
      } catch (err) {
        throw new ReadPathError('BACKEND_ERROR', `${this.#name}: could not load credentials: ${messageOf(err)}`, { cause: err });
      }
      if (typeof creds?.accessKeyId !== 'string' || typeof creds.secretAccessKey !== 'string') {
        throw new ReadPathError('BACKEND_ERROR', `${this.#name}: the credential provider returned no access key`);
      }
      this.#current = creds;
      this.#currentPromise = Promise.resolve(creds);
      return creds;
    })();
    this.#refreshing = p;
    const clear = (): void => {
      if (this.#refreshing === p) this.#refreshing = undefined;
    };
    p.then(clear, clear);
    return p;
  }
}

/**
 * What readpath uses of `@aws-sdk/credential-providers`. Declared here, not inferred from the
 * SDK, so that readpath's public declarations do not pull the SDK's type tree into every
 * program that compiles against readpath; the import below checks the SDK still fits.
 */
export interface SdkCredentialProviders {
  fromNodeProviderChain(init?: { parentClientConfig?: { region?: string } }): S3CredentialProvider;
}

/** The AWS SDK's credential providers, imported only for backends without static keys. */
export const credentialProviders: LazyModule<SdkCredentialProviders> = lazyModule<SdkCredentialProviders>(() => import('@aws-sdk/credential-providers'));

/** The default chains built on this thread, by the region their STS calls go to. */
const defaultChains = new Map<string, S3CredentialProvider>();

/**
 * The SDK's default Node credential chain for backends in `region`, built once per thread and
 * region and shared by every backend without static keys there (so the instance-metadata or STS
 * call is made once, not per backend). The region is the one the chain's STS calls go to (web
 * identity, a profile's role), as the SDK transport's client hands its own region to its chain
 * and s3-orchestrator loads its chain with the backend's region: without it they went to
 * us-east-1 (or AWS_REGION) whatever the backend's region was.
 */
export async function defaultChainProvider(region: string): Promise<S3CredentialProvider> {
  let chain = defaultChains.get(region);
  if (chain === undefined) {
    const mod = await credentialProviders.load();
    chain = defaultChains.get(region) ?? mod.fromNodeProviderChain({ parentClientConfig: { region } });
    defaultChains.set(region, chain);
  }
  return chain;
}
