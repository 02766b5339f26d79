// Chrome's service worker has no DOM: this offscreen document clears the clipboard for it.
import { clearIfUnchanged } from "../shared/clipboard.js";

chrome.runtime.onMessage.addListener((msg, _sender, reply) => {
  if (msg?.target !== "offscreen" || msg.op !== "clearIfUnchanged") return false;
  clearIfUnchanged(msg.hash).then((cleared) => reply({ cleared }), () => reply({ cleared: false }));
  return true;
});
