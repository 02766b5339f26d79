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

function writeEmpty() {
  const onCopy = (e) => {
    e.clipboardData.setData("text/plain", "");
    e.preventDefault();
  };
  document.addEventListener("copy", onCopy, { once: true });
  document.execCommand("copy");
  document.removeEventListener("copy", onCopy);
}

/// Empties the clipboard if its text hashes to `hash`. Returns whether it did.
export async function clearIfUnchanged(hash) {
  const current = readClipboard();
  if (!current || (await sha256(current)) !== hash) return false;
  writeEmpty();
  return true;
}
