/**
 * The `memory://` backbone's rules: no driver, any channel, any message.
 *
 * @module
 */
import type { BackboneRules } from "../lib/backbone_rules.ts";

/** No driver, no rule. */
export const memoryRules: BackboneRules = {};
