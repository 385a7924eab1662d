/**
 * Tokens for the serve authentication tests: a signing key pair with `jose`,
 * JWTs signed with it, its public key as a PEM file or served as a JWKS from
 * a local `node:http` server, and files in a temporary directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from "jose";

/** Who signs the test tokens. */
export interface Issuer {
  /** The public key, PEM (SPKI). */
  pem: string;
  /** The public key as a JSON Web Key Set. */
  jwks: { keys: Record<string, unknown>[] };
  /** A JWT with `claims`, signed; `expiresIn` in seconds (negative: expired already). */
  sign(claims: JWTPayload, options?: { audience?: string; issuer?: string; expiresIn?: number }): Promise<string>;
}

/** A key pair for `alg` and a signer. */
export async function issuer(alg = "ES256", kid = "test-key"): Promise<Issuer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...await exportJWK(publicKey), kid, alg, use: "sig" };
  return {
    pem: await exportSPKI(publicKey),
    jwks: { keys: [jwk] },
    async sign(claims, { audience, issuer, expiresIn = 300 } = {}) {
      const now = Math.floor(Date.now() / 1000);
      let jwt = new SignJWT(claims).setProtectedHeader({ alg, kid }).setIssuedAt(now - 60).setExpirationTime(now + expiresIn);
      if (audience !== undefined) jwt = jwt.setAudience(audience);
      if (issuer !== undefined) jwt = jwt.setIssuer(issuer);
      return await jwt.sign(privateKey);
    },
  };
}

/** An HTTP server on 127.0.0.1 answering every request with `jwks`; how often it was asked. */
export async function serveJwks(jwks: unknown): Promise<{ url: string; hits(): number; close(): Promise<void> }> {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    hits: () => hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A temporary directory to write files in; `remove()` deletes it. */
export function tempDir(): { write(name: string, text: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "streamcast-serve-"));
  return {
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
