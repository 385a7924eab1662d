const SECRET_PARAMS = /^(password|pass|pwd|secret|token|sasl_password)$/i;

/**
 * A URI as it may be printed: the password (and any password-like query
 * parameter) replaced by `***`. Text that does not parse as a URI is masked
 * by pattern, so a malformed URI in an error message is safe too.
 *
 * @example The password never survives
 * ```ts
 * import { maskUri } from "./mask_uri.ts";
 * const masked = maskUri("redis://app:s3cret@cache:6379/0");
 * if (masked !== "redis://app:***@cache:6379/0") throw new Error(masked);
 * ```
 */
export function maskUri(uri: string | URL): string {
  const text = String(uri);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return maskByPattern(text);
  }
  // An "@" past the host is most likely a password's, not percent-encoded:
  // `redis://app:p@ss#word@cache` puts "ss#word@cache" outside the userinfo.
  if (/@/.test(url.pathname + url.search + url.hash)) return maskByPattern(text);
  let changed = false;
  // A fragment is never part of a backbone URI: here it is a password's "#" and what follows.
  if (url.hash) {
    url.hash = "***";
    changed = true;
  }
  if (url.password) {
    url.password = "***";
    changed = true;
  }
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_PARAMS.test(key)) {
      url.searchParams.set(key, "***");
      changed = true;
    }
  }
  // Keep the text as written when there is nothing to hide.
  return changed ? url.href.replace(/%2A%2A%2A/g, "***") : maskByPattern(text);
}

// Text that does not parse as a URI may hold a password with spaces, "@" or
// "/". A whole URI (no space before its first colon, so not a sentence; its
// scheme or "//" maybe missing, as in `user:pw@host`) loses everything between
// its user name and its last "@". In free text (a log line), only what looks
// like one URI's password is hidden, up to the next "@": a URI in a message is
// masked before it is put there, so this is the backstop. A secret parameter's
// value runs to the next "&". Hiding too much is safe; showing a password is not.
function maskByPattern(text: string): string {
  const whole = /^[^\s:]*:|^\/\//.test(text) ? /^([a-z][a-z0-9+.-]*:\/\/|:?\/\/)?([^\n]*)@([^@\n]*)$/i.exec(text) : null;
  const masked = whole === null ? text : `${whole[1] ?? ""}${/^[^:\s]*/.exec(whole[2])![0]}:***@${whole[3]}`;
  const value = /^[^\s:]*:|^\/\//.test(text) ? /[^&\n]*/ : /[^&\s]*/;
  return masked
    .replace(/(\/\/[^/@:\s]*:)(?!\*\*\*@)[^@\s]*@/g, "$1***@")
    .replace(new RegExp(`([?&](?:password|pass|pwd|secret|token|sasl_password)=)${value.source}`, "gi"), "$1***");
}
