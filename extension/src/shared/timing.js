// How long a copied secret stays on the clipboard. The browser tests' copy of the extension
// (test/browser/harness.js, testExtension) rewrites this file with a shorter time; the packed
// extension always has 30 seconds.
export const CLIPBOARD_CLEAR_MS = 30_000;
