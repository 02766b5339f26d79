// Copies the single-file ES module build of tldts (public suffix list + parser) from node_modules
// into src/vendor/, where the extension and the unit tests import it. Run by `npm ci`/`npm install`
// (the "prepare" script) and by pack.sh, so the copy always matches package-lock.json.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(root, "node_modules/tldts/dist/index.esm.min.js");
const to = join(root, "src/vendor/tldts.js");
const { version } = JSON.parse(readFileSync(join(root, "node_modules/tldts/package.json"), "utf8"));
mkdirSync(dirname(to), { recursive: true });
copyFileSync(from, to);
console.log(`vendored tldts ${version} -> src/vendor/tldts.js`);
