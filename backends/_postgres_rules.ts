/**
 * The `postgres://` backbone's rules: postgres.js (the `postgres` package).
 * Any channel works (a long name is mapped, see `_postgres_channel.ts`), and
 * any message a string can hold (a large one goes through a table).
 *
 * @module
 */
import type { BackboneRules } from "../lib/backbone_rules.ts";

/** The driver to name when it is missing; no channel or size rule. */
export const postgresRules: BackboneRules = { driver: "postgres" };
