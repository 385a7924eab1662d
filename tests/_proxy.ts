export * from "../cli/tcp_proxy.ts";
