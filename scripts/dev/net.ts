/** Network helpers for what tests and benchmarks start on this machine. */
import net from "node:net";

/** A port nobody listens on right now (the kernel's pick), for a server of a test's or a benchmark's own. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
