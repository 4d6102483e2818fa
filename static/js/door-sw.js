// The door page's service worker (served as /admin/door-sw.js, registered by door.js with the
// door page's own address as its scope): the page reloads without a network.
//
// The page: from the network when it answers (and kept), else the copy kept last. The files
// under /static/: the copy kept, refreshed from the network behind it. Everything else (the
// scans, the sync, the ticket list) goes to the network untouched: door.js keeps what it needs
// in the page's own storage, and a POST is never answered from a cache.
"use strict";

var CACHE = "portal-door-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    event.respondWith(page(request, url));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(asset(request));
  }
});

function page(request, url) {
  return fetch(request).then(function (response) {
    if (response.ok && response.type === "basic" && !response.redirected) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { return cache.put(url.pathname, copy); });
    } else if (response.type === "opaqueredirect") {
      // Signed out: the door page's copy goes too, so that nobody reads it from this device.
      caches.open(CACHE).then(function (cache) { return cache.delete(url.pathname); });
    }
    return response;
  }, function () {
    return caches.open(CACHE).then(function (cache) { return cache.match(url.pathname); }).then(function (kept) {
      return kept || Response.error();
    });
  });
}

function asset(request) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request).then(function (kept) {
      var fresh = fetch(request).then(function (response) {
        if (response.ok) { cache.put(request, response.clone()); }
        return response;
      });
      if (kept) {
        fresh.catch(function () { /* offline: the kept copy serves */ });
        return kept;
      }
      return fresh;
    });
  });
}
