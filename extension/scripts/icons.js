// Draws the toolbar icons (icons/<size>.png): a blue rounded square with a white key. Run once
// after changing the design (`node scripts/icons.js`); the PNGs are committed.
import { deflateSync } from "node:zlib";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const out = join(dirname(fileURLToPath(import.meta.url)), "../icons");

function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

function png(size, pixel) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel((x + 0.5) / size, (y + 0.5) / size);
      raw.set([r, g, b, a], y * (size * 4 + 1) + 1 + x * 4);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

// Supersampled coverage of a shape given as inside(x, y) in unit coordinates.
function shade(size, x, y, inside) {
  let n = 0;
  const s = 4;
  for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) if (inside(x + (i - 1.5) / (s * size), y + (j - 1.5) / (s * size))) n++;
  return n / (s * s);
}

function icon(size) {
  const bg = (x, y) => {
    const r = 0.2;
    const dx = Math.max(r - x, x - (1 - r), 0);
    const dy = Math.max(r - y, y - (1 - r), 0);
    return dx * dx + dy * dy <= r * r;
  };
  const key = (x, y) => {
    const ring = Math.hypot(x - 0.33, y - 0.5);
    if (ring <= 0.19 && ring >= 0.09) return true;
    if (x >= 0.48 && x <= 0.84 && Math.abs(y - 0.5) <= 0.055) return true;
    if (x >= 0.66 && x <= 0.73 && y >= 0.5 && y <= 0.66) return true;
    if (x >= 0.77 && x <= 0.84 && y >= 0.5 && y <= 0.62) return true;
    return false;
  };
  return png(size, (x, y) => {
    const a = shade(size, x, y, bg);
    const k = shade(size, x, y, key);
    const r = Math.round(36 + (255 - 36) * k);
    const g = Math.round(86 + (255 - 86) * k);
    const b = Math.round(214 + (255 - 214) * k);
    return [r, g, b, Math.round(255 * a)];
  });
}

mkdirSync(out, { recursive: true });
for (const size of [16, 32, 48, 128]) writeFileSync(join(out, `${size}.png`), icon(size));
console.log("icons written to icons/");
