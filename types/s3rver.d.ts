// Minimal types for s3rver 3.7.1 (it ships none): what readpath's test fleet uses.
declare module 's3rver' {
  import type { RequestListener, Server } from 'node:http';
  import type { AddressInfo } from 'node:net';

  namespace S3rver {
    interface BucketConfig {
      name: string;
      /** CORS / website configuration documents. */
      configs?: Array<string | Buffer>;
    }
    interface Options {
      address?: string;
      port?: number;
      silent?: boolean;
      /** Where objects are stored on disk. */
      directory?: string;
      resetOnClose?: boolean;
      allowMismatchedSignatures?: boolean;
      vhostBuckets?: boolean;
      serviceEndpoint?: string;
      configureBuckets?: BucketConfig[];
      key?: string | Buffer;
      cert?: string | Buffer;
    }
  }

  class S3rver {
    constructor(options?: S3rver.Options);
    /** Create the configured buckets and listen; resolves with the bound address. */
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
    /** A plain request handler (Koa's), usable with http.createServer. */
    callback(): RequestListener;
    reset(): void;
    httpServer?: Server;
  }

  export = S3rver;
}
