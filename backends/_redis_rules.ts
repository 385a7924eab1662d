/**
 * The `redis://` backbone's rules: node-redis (the `redis` package); Redis
 * takes any channel and any message a string can hold.
 *
 * @module
 */
import type { BackboneRules } from "../lib/backbone_rules.ts";

/** The driver to name when it is missing; no channel or size rule. */
export const redisRules: BackboneRules = { driver: "redis" };
