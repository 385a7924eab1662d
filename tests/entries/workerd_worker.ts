/**
 * The ES module worker the workerd test runs: the library on `memory://` and
 * an unloadable backend, from a fetch handler, answering in JSON.
 * `GET /memory?channel=C&message=A&message=B` does a round trip;
 * `GET /connect?uri=U` reports how `connect()` to `U` ended.
 */
import { connectOutcome, memoryRoundTrip } from "./edge_scenarios.ts";

/** How long a scenario waits before it reports a hang. */
const BOUND_MS = 5_000;

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const params = url.searchParams;
    if (url.pathname === "/memory") {
      return Response.json(await memoryRoundTrip(params.get("uri") ?? "memory://workerd", params.get("channel") ?? "edge", params.getAll("message"), BOUND_MS));
    }
    if (url.pathname === "/connect") return Response.json(await connectOutcome(params.get("uri") ?? "", BOUND_MS));
    return new Response("Not found", { status: 404 });
  },
};
