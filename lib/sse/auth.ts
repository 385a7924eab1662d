/**
 * Bearer-token authentication of the SSE handler (`handler.ts`) and so of `streamcast serve`, over web-standard
 * `Headers` and WebCrypto only. Two kinds of token, either or both:
 *
 * - a static token (`--token-file`, `STREAMCAST_SERVE_TOKEN`): it may publish
 *   and subscribe on every channel. Compared through SHA-256 digests in
 *   constant time, so neither its length nor its prefix leaks through timing.
 * - a JWT, verified with `jose` against a public key or a JWKS URL, with its
 *   audience, issuer and expiry checked. Its `publish` and `subscribe` claims
 *   list the channels it may publish and subscribe to: names, or prefixes
 *   ending in `*` (`room:*`); `*` alone is every channel. Without the claim,
 *   none. `"healthz": true` lets it see `/healthz`'s details (the backbone's
 *   user and host), which the static token sees too: a token handed to every
 *   subscriber must not show them where the backbone is.
 *
 * A missing or bad token is a 401 with `WWW-Authenticate: Bearer`; a good one
 * for another channel is a 403. No message ever holds the token. Part of the SSE handler.
 */
import { createRemoteJWKSet, errors, importSPKI, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from "jose";
import { isRefusal, type Refusal, refusal } from "./checks.ts";

/** How JWTs are verified. */
export interface JwtSettings {
  /** A PEM public key (SPKI) the tokens are signed with; or `jwksUrl`. */
  publicKey?: string;
  /** Where to fetch the JSON Web Key Set the tokens are signed with. */
  jwksUrl?: string;
  /** The `aud` a token must carry. */
  audience?: string;
  /** The `iss` a token must carry. */
  issuer?: string;
}

/** What serve authenticates with; nothing given, nothing is required. */
export interface AuthSettings {
  /** The static token: it may publish and subscribe on every channel. */
  token?: string;
  /** How JWTs are verified; their claims say which channels they may use. */
  jwt?: JwtSettings;
  /** Whether subscribing needs a token too (publishing always does once a token is configured). */
  subscribe: boolean;
}

/** What a token may do. */
export type Action = "publish" | "subscribe";

/** A caller whose token was verified. */
export interface Caller {
  may(action: Action, channel: string): boolean;
  /** Whether it may see `/healthz`'s details: the static token, or a JWT whose `healthz` claim is `true`. */
  readonly healthz: boolean;
}

/** Checks bearer tokens against `AuthSettings`. */
export interface Authenticator {
  /** Whether any token is configured. */
  readonly configured: boolean;
  /** Whether `action` needs a token. */
  requires(action: Action): boolean;
  /** The caller that `headers`' `Authorization` proves, or a 401 (a 503 when the keys cannot be fetched). */
  authenticate(headers: Headers): Promise<Caller | Refusal>;
}

/** Only signatures with a public key: a secret-key JWT (HS256) or an unsigned one cannot pass. */
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];
const CHALLENGE = 'Bearer realm="streamcast"';
const EVERYTHING: Caller = { may: () => true, healthz: true };

/** An `Authenticator` for `settings`; a JWKS is fetched when first needed, then cached by `jose`. */
export function createAuthenticator(settings: AuthSettings): Authenticator {
  const token = settings.token === undefined ? undefined : digest(settings.token);
  const key = settings.jwt === undefined ? undefined : keyResolver(settings.jwt);
  const configured = token !== undefined || key !== undefined;
  return {
    configured,
    requires: (action) => configured && (action === "publish" || settings.subscribe),
    async authenticate(headers) {
      const [scheme, bearer, ...rest] = (headers.get("authorization") ?? "").trim().split(/\s+/);
      if (scheme === "" || scheme.toLowerCase() !== "bearer" || bearer === undefined || rest.length > 0) {
        const received = scheme === "" ? "none" : scheme.toLowerCase() === "bearer" && bearer === undefined ? "an empty one" : "another kind of Authorization header";
        return refusal(401, `Invalid Authorization: Expected a bearer token but received ${received}`, { "www-authenticate": CHALLENGE });
      }
      if (token !== undefined && equal(await token, await digest(bearer))) return EVERYTHING;
      if (key === undefined || settings.jwt === undefined) return invalidToken("does not match");
      try {
        const { payload } = await jwtVerify(bearer, key, { audience: settings.jwt.audience, issuer: settings.jwt.issuer, algorithms: ALGORITHMS, requiredClaims: ["exp"] });
        return fromClaims(payload);
      } catch (error) {
        if (unreachableKeys(error)) return refusal(503, "Unavailable: the keys to verify the token with cannot be fetched");
        return invalidToken(describeJoseError(error));
      }
    },
  };
}

/**
 * Authorizes `action` on every one of `channels` for `headers`: `undefined`
 * when it may go ahead, else the 401, 403 or 503 to answer.
 */
export async function authorize(auth: Authenticator, headers: Headers, action: Action, channels: readonly string[]): Promise<Refusal | undefined> {
  if (!auth.requires(action)) return undefined;
  const caller = await auth.authenticate(headers);
  if (isRefusal(caller)) return caller;
  const denied = channels.find((channel) => !caller.may(action, channel));
  if (denied === undefined) return undefined;
  const verb = action === "publish" ? "publish on" : "subscribe to";
  return refusal(403, `Invalid channel: Expected a channel the token may ${verb} but received ${JSON.stringify(denied)}`, {
    "www-authenticate": `${CHALLENGE}, error="insufficient_scope"`,
  });
}

/** Whether `pattern` (a channel name, or a prefix ending in `*`) covers `channel`. */
export function channelMatches(pattern: string, channel: string): boolean {
  return pattern.endsWith("*") ? channel.startsWith(pattern.slice(0, -1)) : pattern === channel;
}

function fromClaims(payload: JWTPayload): Caller {
  const patterns = (claim: unknown) => Array.isArray(claim) ? claim.filter((item): item is string => typeof item === "string") : [];
  const allowed = { publish: patterns(payload.publish), subscribe: patterns(payload.subscribe) };
  return { may: (action, channel) => allowed[action].some((pattern) => channelMatches(pattern, channel)), healthz: payload.healthz === true };
}

// A public key is imported for the algorithm each token names (a WebCrypto key
// is bound to one), once per algorithm; a JWKS is jose's own resolver.
function keyResolver(jwt: JwtSettings): JWTVerifyGetKey {
  if (jwt.jwksUrl !== undefined) return createRemoteJWKSet(new URL(jwt.jwksUrl));
  const pem = jwt.publicKey ?? "";
  const keys = new Map<string, Promise<CryptoKey>>();
  return (header) => {
    const alg = header.alg ?? "";
    let key = keys.get(alg);
    if (key === undefined) keys.set(alg, key = importSPKI(pem, alg));
    return key;
  };
}

function invalidToken(why: string): Refusal {
  return refusal(401, `Invalid token: Expected a valid bearer token but received one that ${why}`, {
    "www-authenticate": `${CHALLENGE}, error="invalid_token"`,
  });
}

// jose's messages name claims, never the token; these say it in a few words.
function describeJoseError(error: unknown): string {
  if (!(error instanceof errors.JOSEError)) return "could not be verified";
  if (error instanceof errors.JWTExpired) return "has expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    const what: Record<string, string> = { aud: "is for another audience", iss: "is from another issuer", nbf: "is not valid yet" };
    return what[error.claim] ?? `fails the check of its ${JSON.stringify(error.claim)} claim`;
  }
  const byCode: Record<string, string> = {
    ERR_JWS_SIGNATURE_VERIFICATION_FAILED: "has a bad signature",
    ERR_JOSE_ALG_NOT_ALLOWED: "is signed with an algorithm that is not allowed",
    ERR_JWKS_NO_MATCHING_KEY: "is signed with an unknown key",
    ERR_JWKS_MULTIPLE_MATCHING_KEYS: "matches several keys",
    ERR_JWS_INVALID: "is neither the token nor a JWT",
    ERR_JWT_INVALID: "is not a valid JWT",
  };
  return byCode[error.code] ?? "could not be verified";
}

function unreachableKeys(error: unknown): boolean {
  return error instanceof errors.JWKSTimeout || (error instanceof errors.JOSEError && error.code === "ERR_JOSE_GENERIC") ||
    (error instanceof TypeError && /fetch/i.test(error.message));
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

// Every byte is compared, whatever the first difference.
function equal(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i % b.length];
  return difference === 0;
}
