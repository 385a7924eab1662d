/**
 * The page `streamcast serve` answers `GET /` with: it subscribes with
 * EventSource to the channel named in `?channel=` (default `demo`), lists the
 * messages it receives, and can publish. The channel is read in the browser
 * and shown with `textContent`, never spliced into the HTML, and the script is
 * allowed by its hash in the Content-Security-Policy. Private to the serve command.
 */
import { createHash } from "node:crypto";

const SCRIPT = `
const channel = new URLSearchParams(location.search).get("channel") || "demo";
const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text; document.body.dataset.state = text; };
const show = (text, kind) => {
  const item = document.createElement("li");
  item.textContent = text;
  item.className = kind;
  $("messages").append(item);
};
$("channel").textContent = channel;
const source = new EventSource("/subscribe?channel=" + encodeURIComponent(channel));
source.onopen = () => status("connected");
source.addEventListener("ready", (e) => status("ready (worker " + JSON.parse(e.data).worker + ")"));
source.addEventListener("message", (e) => show(JSON.parse(e.data).message, "message"));
source.addEventListener("resync", (e) => show("resync: " + JSON.parse(e.data).reason + ", reconnecting", "resync"));
source.onerror = () => status("reconnecting");
$("publish").onsubmit = async (e) => {
  e.preventDefault();
  await fetch("/publish/" + encodeURIComponent(channel), { method: "POST", body: $("text").value });
  $("text").value = "";
};
`;

/** The Content-Security-Policy of the page: only its own script, only its own origin. */
export const PAGE_CSP = `default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; ` +
  `script-src 'sha256-${createHash("sha256").update(SCRIPT).digest("base64")}'`;

/** The page's HTML. */
export const PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamcast serve</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  .resync { color: #a60; }
  #messages { font-family: ui-monospace, monospace; }
</style>
<h1>streamcast: <span id="channel"></span></h1>
<p>Status: <span id="status">connecting</span></p>
<form id="publish"><input id="text" placeholder="a message" autocomplete="off"> <button>Publish</button></form>
<ul id="messages"></ul>
<script>${SCRIPT}</script>
</html>
`;
