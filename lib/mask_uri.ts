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

function maskByPattern(text: string): string {
  return text
    .replace(/(\/\/[^/@:\s]*:)[^@\s]*@/g, "$1***@")
    .replace(/([?&](?:password|pass|pwd|secret|token|sasl_password)=)[^&\s]*/gi, "$1***");
}
