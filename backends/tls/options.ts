/**
 * The TLS options a backend hands to the runtime's `tls.connect`, described
 * here rather than taken from Node's types, so that the package's public
 * types need no `@types/node`. A Node `tls.ConnectionOptions` object fits.
 *
 * @module
 */

/** A PEM text, or its bytes (a `Uint8Array`, such as a file read without an encoding). */
export type Pem = string | Uint8Array;

/**
 * Options for the TLS connection to the backbone, passed to `tls.connect` as
 * given. The usual fields are typed here; any other `tls.connect` option is
 * passed on too, and a value typed as Node's `tls.ConnectionOptions` fits.
 */
export interface TlsOptions {
  /** Certificate authorities to trust instead of the system's (and of the URI's `ca` file), PEM. */
  ca?: Pem | Pem[];
  /** The client certificate chain, PEM, for a server that asks for one. */
  cert?: Pem | Pem[];
  /** The client's private key, PEM; several, or each with its own passphrase, as an array. */
  key?: Pem | (Pem | { pem: Pem; passphrase?: string })[];
  /** The passphrase of an encrypted `key` or `pfx`. */
  passphrase?: string;
  /** A PKCS#12 bundle of key and certificates, instead of `key` and `cert`. */
  pfx?: Pem | (Pem | { buf: Pem; passphrase?: string })[];
  /** The server name sent (SNI) and checked against the certificate; the URI's host by default. */
  servername?: string;
  /** Refuse a server whose certificate does not verify; `false` only for testing. @default {true} */
  rejectUnauthorized?: boolean;
  /** The lowest TLS version accepted; the runtime's default (TLS 1.2 in Node) otherwise. */
  minVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
  /** The highest TLS version offered; the runtime's default (TLS 1.3 in Node) otherwise. */
  maxVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
  /** The cipher suites offered, in OpenSSL's cipher list format; the runtime's default otherwise. */
  ciphers?: string;
}
