// IronPath's offline shell: the page, its hashed assets and config.json are cached so a reload
// without a connection still opens the app (its data comes from IndexedDB). gRPC-Web calls are
// POSTs to the gateway and pass straight through.
const CACHE = "ironpath-shell-v1";

async function precache() {
  const cache = await caches.open(CACHE);
  const index = await fetch("./", { cache: "no-cache" });
  await cache.put("./", index.clone());
  const html = await index.text();
  const assets = [...html.matchAll(/(?:src|href)="(\.?\/?assets\/[^"]+)"/g)].map((m) => m[1]);
  await cache.addAll(["config.json", ...assets]);
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms))]);
}

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await withTimeout(fetch(request), 4000);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, "./"));
  } else if (url.pathname.endsWith("/config.json")) {
    event.respondWith(networkFirst(request, "config.json"));
  } else if (url.pathname.includes("/assets/")) {
    event.respondWith(cacheFirst(request));
  }
});
