// Sizes of the built app (web/dist): each asset raw and gzipped, and what the first load fetches
// (the files index.html names; the Supabase client is a separate chunk loaded only when configured).
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";

const dist = new URL("../dist/", import.meta.url).pathname;
const index = readFileSync(path.join(dist, "index.html"), "utf8");
const initial = new Set([...index.matchAll(/(?:src|href)="\.?\/?(assets\/[^"]+)"/g)].map((m) => m[1]));
let first = gzipSync(index).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log("asset".padEnd(40), "raw".padStart(10), "gzip".padStart(10), " first load");
for (const name of readdirSync(path.join(dist, "assets")).sort()) {
  const body = readFileSync(path.join(dist, "assets", name));
  const gz = gzipSync(body, { level: 9 }).length;
  const loaded = initial.has(`assets/${name}`);
  if (loaded) first += gz;
  console.log(name.padEnd(40), kb(body.length).padStart(10), kb(gz).padStart(10), loaded ? " yes" : "");
}
console.log(`first load (index.html + its assets), gzip: ${kb(first)}`);
