/*
 * Parley's service worker: keeps the web app (a static export) available offline.
 * Pages are fetched from the network first and fall back to their last copy; hashed build
 * assets (/_next/static) never change, so they come from the cache. The API, live events,
 * images and the dev mailbox are never cached.
 */
const CACHE = "parley-shell-v1";
const PAGES = ["/", "/chats", "/login", "/verify", "/profile"];
const NEVER = ["/api/", "/socket.io/", "/media/", "/dev/", "/healthz", "/readyz", "/metrics"];

async function precache() {
  const cache = await caches.open(CACHE);
  const assets = new Set();
  for (const page of PAGES) {
    try {
      const response = await fetch(page, { cache: "no-store" });
      if (!response.ok) continue;
      const html = await response.clone().text();
      for (const match of html.matchAll(/["'(](\/_next\/static\/[^"'()\s]+)/g))
        assets.add(match[1]);
      await cache.put(page, response);
    } catch {
      // Offline while installing: the pages are cached as they are visited.
    }
  }
  await Promise.all([...assets, "/icon.svg"].map((url) => cache.add(url).catch(() => undefined)));
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

async function page(request) {
  const cache = await caches.open(CACHE);
  const url = new URL(request.url);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(url.pathname, response.clone());
    return response;
  } catch (error) {
    const copy = (await cache.match(url.pathname)) || (await cache.match("/chats"));
    if (copy) return copy;
    throw error;
  }
}

async function asset(request) {
  const cache = await caches.open(CACHE);
  const copy = await cache.match(request);
  if (copy) return copy;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (NEVER.some((prefix) => url.pathname.startsWith(prefix))) return;
  if (request.mode === "navigate") event.respondWith(page(request));
  else if (url.pathname.startsWith("/_next/static/") || url.pathname === "/icon.svg")
    event.respondWith(asset(request));
});
