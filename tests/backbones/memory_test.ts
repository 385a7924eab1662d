import { memoryHub } from "../../backends/memory/mod.ts";
import { runConformance } from "../fixtures/conformance.ts";

runConformance("memory://", async () => {
  const hub = memoryHub("conformance");
  return {
    uri: "memory://conformance",
    cut: async () => hub.cut(),
    restore: async () => hub.restore(),
    stall: async () => hub.stall(),
    subscribers: async (channel) => hub.subscribers(channel),
    close: async () => hub.restore(),
  };
});
