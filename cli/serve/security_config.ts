/**
 * Reads the security flags of `streamcast serve` into the part of its
 * configuration the request checks use: the token (from `--token-file` or
 * `STREAMCAST_SERVE_TOKEN`), the JWT key, the allowed origins and hosts. The
 * primary reads the files once, so a worker needs no file and no variable.
 * Refuses to listen beyond loopback without a token unless `--insecure`.
 * Messages name files and flags, never a token or a key. Private to the serve
 * command.
 */
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { invalid, UsageError } from "../args.ts";
import type { AuthSettings, JwtSettings } from "../../lib/sse/auth.ts";
import { hostName, isLoopback, parseOrigin } from "../../lib/sse/checks.ts";

/** The security flags as given: each absent when not on the command line. */
export interface SecurityFlags {
  host?: string;
  "token-file"?: string;
  "jwt-public-key"?: string;
  "jwks-url"?: string;
  "jwt-audience"?: string;
  "jwt-issuer"?: string;
  "auth-subscribe"?: boolean;
  "allow-origin"?: string[];
  "allow-host"?: string[];
  insecure?: boolean;
}

/** What the request checks need; plain data, sent to the workers with the rest. */
export interface SecurityConfig {
  auth: AuthSettings;
  /** Origins besides the server's own whose pages may call it, as `URL.origin` spells them. */
  allowOrigins: string[];
  /** Host names accepted besides loopback ones, lowercase. */
  allowHosts: string[];
  /** Listening beyond loopback without a token, on purpose. */
  insecure: boolean;
}

/** The variable a static token may come from instead of `--token-file`. */
export const TOKEN_VARIABLE = "STREAMCAST_SERVE_TOKEN";
const MIN_TOKEN_LENGTH = 16;

/** Resolves the security flags and `env`; throws `UsageError` naming the first bad one. */
export function resolveSecurity(flags: SecurityFlags, env: Record<string, string | undefined>, host: string): SecurityConfig {
  const token = readToken(flags, env);
  const jwt = readJwt(flags);
  if (flags["auth-subscribe"] && token === undefined && jwt === undefined) {
    throw invalid("--auth-subscribe", `a token to check (--token-file, ${TOKEN_VARIABLE}, --jwt-public-key or --jwks-url)`, "none");
  }
  const insecure = flags.insecure === true;
  if (!isLoopback(host) && token === undefined && jwt === undefined && !insecure) {
    throw new UsageError(
      `Invalid --host: Expected a loopback address (127.0.0.1, ::1, localhost) while no token is configured ` +
        `(--token-file, ${TOKEN_VARIABLE}, --jwt-public-key or --jwks-url) but received ${JSON.stringify(host)}: ` +
        `anyone who reaches it could publish; configure a token, or pass --insecure if that is what you want`,
    );
  }
  return {
    auth: { token, jwt, subscribe: flags["auth-subscribe"] === true },
    allowOrigins: list(flags["allow-origin"]).map((text) => parseOrigin(text) ?? badOrigin(text)),
    allowHosts: list(flags["allow-host"]).map((text) => allowedHost(text)),
    insecure,
  };
}

// A repeatable flag whose values may also be comma-separated lists.
function list(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((value) => value.split(",")).map((item) => item.trim()).filter((item) => item !== "");
}

function badOrigin(text: string): never {
  throw invalid("--allow-origin", "an origin such as https://app.example.com (scheme, host and port only)", JSON.stringify(text));
}

function allowedHost(text: string): string {
  const name = hostName(text);
  if (name === undefined || /:\d+$/.test(text.replace(/^\[[^\]]*\]/, ""))) {
    throw invalid("--allow-host", "a host name such as app.example.com (without port)", JSON.stringify(text));
  }
  return name.replace(/\.$/, "");
}

function readToken(flags: SecurityFlags, env: Record<string, string | undefined>): string | undefined {
  const path = flags["token-file"];
  if (path !== undefined) return checkToken("--token-file", readText("--token-file", path).trim());
  const value = env[TOKEN_VARIABLE];
  return value === undefined || value === "" ? undefined : checkToken(TOKEN_VARIABLE, value.trim());
}

// The message says what is wrong with the token, never what it is.
function checkToken(source: string, token: string): string {
  if (!/^[\x21-\x7e]*$/.test(token)) {
    throw invalid(source, "a token of printable ASCII characters without spaces", "one with other characters");
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw invalid(source, `a token of at least ${MIN_TOKEN_LENGTH} characters`, `one of ${token.length}`);
  }
  return token;
}

function readJwt(flags: SecurityFlags): JwtSettings | undefined {
  const keyFile = flags["jwt-public-key"];
  const jwksUrl = flags["jwks-url"];
  const claims = { audience: flags["jwt-audience"], issuer: flags["jwt-issuer"] };
  if (keyFile === undefined && jwksUrl === undefined) {
    const orphan = claims.audience !== undefined ? "--jwt-audience" : claims.issuer !== undefined ? "--jwt-issuer" : undefined;
    if (orphan !== undefined) throw invalid(orphan, "--jwt-public-key or --jwks-url beside it", "neither");
    return undefined;
  }
  if (keyFile !== undefined && jwksUrl !== undefined) throw invalid("--jwks-url", "either --jwt-public-key or --jwks-url", "both");
  const key = jwksUrl !== undefined ? { jwksUrl: checkJwksUrl(jwksUrl) } : { publicKey: checkPublicKey(keyFile!, readText("--jwt-public-key", keyFile!)) };
  // A key (an identity provider's above all) signs tokens for other services too: without
  // an audience, a token meant for one of them would pass here, with its claims.
  if (claims.audience === undefined) {
    const beside = jwksUrl !== undefined ? "--jwks-url" : "--jwt-public-key";
    throw invalid("--jwt-audience", `the audience this server's JWTs carry (their "aud") beside ${beside}`, "none");
  }
  return { ...key, ...claims };
}

function checkJwksUrl(text: string): string {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  // Keys fetched in the clear from another machine could be swapped by anyone on the path.
  const plainRemote = url?.protocol === "http:" && !isLoopback(url.hostname);
  if (url === undefined || (url.protocol !== "https:" && url.protocol !== "http:") || plainRemote || url.username !== "" || url.password !== "") {
    const expected = "an https:// URL (http:// only on this machine) without credentials";
    throw invalid("--jwks-url", expected, JSON.stringify(url === undefined ? text : url.origin));
  }
  return url.href;
}

// A private key would do too for createPublicKey: it is refused, and never printed.
function checkPublicKey(path: string, pem: string): string {
  let ok = /-----BEGIN PUBLIC KEY-----/.test(pem) && !/PRIVATE KEY-----/.test(pem);
  try {
    if (ok) createPublicKey(pem);
  } catch {
    ok = false;
  }
  if (!ok) throw invalid("--jwt-public-key", "a PEM public key (-----BEGIN PUBLIC KEY-----, SPKI)", `the file ${JSON.stringify(path)}, which holds none`);
  return pem;
}

function readText(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code ?? "unreadable";
    throw invalid(flag, "a readable file", `${JSON.stringify(path)} (${code})`);
  }
}
