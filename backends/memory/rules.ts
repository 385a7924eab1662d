/**
 * The `memory://` backbone's rules: no driver, any channel, any message; the
 * URI names a hub (`memory://` or `memory://<hub name>`) and nothing else, and
 * there are no backend settings.
 *
 * @module
 */
import type { BackboneRules } from "../../lib/contract/backbone_rules.ts";
import { configIssue } from "../../lib/contract/errors.ts";
import { maskUri } from "../../lib/util/mask_uri.ts";

/** No driver, no channel or size rule, no settings; a hub name only. */
export const memoryRules: BackboneRules = {
  uri(url) {
    const extra = url.username || url.password || url.port || url.search || url.hash || !["", "/"].includes(url.pathname);
    return extra ? [{ part: "", expected: "memory:// or memory://<hub name>", received: JSON.stringify(maskUri(url)) }] : [];
  },
  settings: (settings) =>
    Object.keys(settings).map((key) => configIssue(`option backendOptions.${key}`, "no such key (memory:// has no settings)", "a value")),
};
