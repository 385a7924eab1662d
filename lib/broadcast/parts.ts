import type { HistoryOptions, Start } from "../contract/link.ts";
import type { EventDetail } from "../util/typed_event_target.ts";
import { Pipeline } from "../pipeline/pipeline.ts";
import { Subscriptions } from "../connection/subscriptions.ts";
import { Supervisor } from "../connection/supervisor.ts";
import type { BroadcastEventMap } from "./events.ts";
import { LazyConnector } from "./lazy_connector.ts";
import type { ResolvedOptions } from "./options.ts";

/** What a Broadcast is made of: the control plane, the data plane, and the connector its links come from. */
export interface Parts {
  readonly subscriptions: Subscriptions;
  readonly pipeline: Pipeline;
  readonly supervisor: Supervisor;
  readonly connector: LazyConnector;
}

/** What the parts are made from: the backbone's URL (history taken out), the options, history mode. */
export interface PartsConfig {
  readonly url: URL;
  readonly options: ResolvedOptions;
  readonly history: HistoryOptions | undefined;
}

/** What the parts tell the Broadcast that owns them. */
export interface PartsReport {
  /** Fires one of the Broadcast's events. */
  emit<K extends keyof BroadcastEventMap & string>(type: K, detail: EventDetail<BroadcastEventMap, K>): void;
  /** Something `ready()` waits on changed: the state, or the subscriptions. */
  changed(): void;
  /** The supervisor gave up for good. */
  failed(error: unknown): void;
}

/**
 * Wires a Broadcast's parts to each other and to the Broadcast, in one
 * place: who tells whom of a lost link, a wanted channel, a position, an
 * overflow or a drop.
 */
export function composeParts({ url, options, history }: PartsConfig, report: PartsReport): Parts {
  const { replayBufferSize, subscriberBuffer, backendOptions, backend, clock } = options;
  const connector = new LazyConnector(url, backend, {
    settings: backendOptions,
    clock,
    liveness: options.liveness,
    ...history && { history },
    dropped: (frame, reason, direction) => {
      pipeline.backboneDropped(direction);
      report.emit("dropped", { channel: frame.channel, frame, reason, direction, source: "backbone" });
    },
  });
  const subscriptions: Subscriptions = new Subscriptions({
    onError: (link, error) => supervisor.lost(link, error),
    onChange: () => report.changed(),
    ...history && {
      // A channel resumes after the last event this instance had, or starts with what is new.
      start: (channel: string): Start => {
        // After a gap the last link went on from the oldest its log kept, and nothing came since:
        // the next one does the same, rather than find the old position lost a second time.
        if (pipeline.gapped(channel)) return "oldest";
        const after = pipeline.position(channel);
        return after === undefined ? "new" : { after };
      },
      onSubscribed: (channel: string, position: string) => pipeline.advance(channel, position),
    },
  });
  const onGap = (channel: string) => report.emit("resync", { channels: 1, reason: "gap", channel });
  const pipeline: Pipeline = new Pipeline({
    replayBufferSize,
    subscriberBuffer,
    // A subscriber set up just before a publish receives it: publishes wait
    // for this instance's subscriptions in flight.
    subscribing: () => subscriptions.whenInSync(),
    onWriteError: (error) => supervisor.lostCurrent(error),
    onReplayOverflow: (frame) => report.emit("overflow", { channel: frame.channel, dropped: 1, source: "replay" }),
    onFirstSubscriber: (channel) => subscriptions.want(channel),
    onLastSubscriber: (channel) => subscriptions.unwant(channel),
    onSubscriberOverflow: (channel, dropped) => report.emit("overflow", { channel, dropped, source: "subscriber" }),
    onLinkResync: (channel) => {
      if (!options.resyncOnReconnect) return false;
      report.emit("resync", { channels: 1, reason: "reconnect", channel });
      return true;
    },
    history: history && {
      whenSubscribed: (channel, signal) => subscriptions.whenSubscribed(channel, signal),
      delay: (ms, signal) => clock.delay(ms, signal),
      onGap,
    },
  });
  // History mode fills a gap from the backbone: no resync on reconnect; the link says when it cannot.
  const supervised = history ? { ...options, resyncOnReconnect: false } : options;
  const supervisor: Supervisor = new Supervisor(supervised, {
    open: (signal) => connector.open(signal),
    pipeline,
    subscriptions,
    report: {
      state: (state, cause) => {
        report.emit("statechange", { state, cause });
        report.changed();
      },
      attemptFailed: (error, attempt) => report.emit("error", { error, attempt }),
      resynced: (channels) => report.emit("resync", { channels, reason: "reconnect" }),
      failed: (error) => report.failed(error),
    },
  });
  return { subscriptions, pipeline, supervisor, connector };
}
