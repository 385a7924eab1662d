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
  let changed = false;
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
// its user name and its last "@"; in free text, a password runs from the user
// name's colon to the line's last "@"; a secret parameter's value runs to the
// next "&". Hiding too much is safe; showing a password is not.
function maskByPattern(text: string): string {
  const whole = /^[^\s:]*:|^\/\//.test(text) ? /^([a-z][a-z0-9+.-]*:\/\/|:?\/\/)?([^\n]*)@([^@\n]*)$/i.exec(text) : null;
  const masked = whole === null ? text : `${whole[1] ?? ""}${/^[^:\s]*/.exec(whole[2])![0]}:***@${whole[3]}`;
  return masked
    .replace(/(\/\/[^/@:\s]*:)(?!\*\*\*@)[^\n]*@/g, "$1***@")
    .replace(/([?&](?:password|pass|pwd|secret|token|sasl_password)=)[^&\n]*/gi, "$1***");
}
