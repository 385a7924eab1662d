/**
 * What one Kafka connector (one Broadcast) carries from each link to the
 * next: the consumer positions, and the consumer groups of lost links that
 * could not be deleted yet (their dead member had not timed out). Private to
 * `backends/kafka/mod.ts`.
 *
 * @module
 */
import type { Admin } from "kafkajs";
import type { Positions } from "./positions.ts";

/** The state one connector's links share, one link at a time. */
export interface ConnectorState {
  positions: Positions;
  /** Groups to delete once their member has gone. */
  orphans: Set<string>;
}

/** A new connector's state: no positions, no orphans. */
export function connectorState(): ConnectorState {
  return { positions: new Map(), orphans: new Set() };
}

/**
 * Deletes the orphan groups, best effort: those deleted or already gone
 * leave the list; those still holding a member, or every one when the broker
 * cannot be reached, stay for a later link.
 */
export async function deleteOrphans(admin: Admin, orphans: Set<string>): Promise<void> {
  const groups = [...orphans];
  if (groups.length === 0) return;
  try {
    await admin.deleteGroups(groups);
    for (const group of groups) orphans.delete(group);
  } catch (error) {
    const failed = (error as { groups?: { groupId: string; error?: { type?: string } }[] }).groups;
    if (failed === undefined) return;
    const kept = new Set(failed.filter((g) => g.error?.type !== "GROUP_ID_NOT_FOUND").map((g) => g.groupId));
    for (const group of groups) if (!kept.has(group)) orphans.delete(group);
  }
}
