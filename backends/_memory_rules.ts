/**
 * The `memory://` backbone's rules: no driver, any channel, any message; the
 * URI names a hub (`memory://` or `memory://<hub name>`) and nothing else, and
 * there are no backend settings.
 *
 * @module
 */
import type { BackboneRules } from "../lib/backbone_rules.ts";
import { configIssue, type ConfigIssue } from "../lib/errors.ts";
import { maskUri } from "../lib/mask_uri.ts";

/** No driver, no channel or size rule; a hub name only. */
export const memoryRules: BackboneRules = {
  validate(url, settings) {
    const issues: ConfigIssue[] = [];
    const extra = url.username || url.password || url.port || url.search || url.hash || !["", "/"].includes(url.pathname);
    if (extra) issues.push(configIssue("URI", "memory:// or memory://<hub name>", JSON.stringify(maskUri(url))));
    for (const key of Object.keys(settings)) {
      issues.push(configIssue(`option backendOptions.${key}`, "no such key (memory:// has no settings)", "a value"));
    }
    return issues;
  },
};
