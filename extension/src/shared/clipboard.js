// Clearing a copied secret later, only if the clipboard still holds it. Runs in a document (the
// offscreen document in Chrome, the background page in Firefox): execCommand works there without
// focus given the clipboardRead/clipboardWrite permissions. Only a SHA-256 of the secret is kept.

export async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function readClipboard() {
  const area = document.createElement("textarea");
  document.body.appendChild(area);
  area.focus();
  document.execCommand("paste");
  const text = area.value;
  area.remove();
  return text;
}

function writeWithCommand(text) {
  let done = false;
  const onCopy = (e) => {
    e.clipboardData.setData("text/plain", text);
    e.preventDefault();
    done = true;
  };
  document.addEventListener("copy", onCopy, { once: true });
  document.execCommand("copy");
  document.removeEventListener("copy", onCopy);
  return done;
}

function writeEmpty() {
  writeWithCommand("");
}

/// Writes `text` to the clipboard from an extension page: the async Clipboard API, which needs the
/// page to have focus, else the copy command, which the clipboardWrite permission allows without.
export async function writeText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // e.g. "Document is not focused": try the command.
  }
  if (!writeWithCommand(text)) throw Object.assign(new Error("clipboard"), { code: "clipboard" });
}

/// Empties the clipboard if its text hashes to `hash`. Returns whether it did.
export async function clearIfUnchanged(hash) {
  const current = readClipboard();
  if (!current || (await sha256(current)) !== hash) return false;
  writeEmpty();
  return true;
}
