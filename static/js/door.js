// The door's scanner: the camera (the browser's BarcodeDetector, else the vendored jsQR), typed
// codes, and work without a network. Once the page has loaded it holds the event's tickets
// (name, organisation, status, days checked in) in this browser, decides a scan itself when
// the server cannot be reached, keeps the scans it admitted, each with its own id, and sends
// them when the network returns (the server counts a scan sent twice once). A service worker
// keeps the page itself, so it reloads offline too.
//
// Optional: without JavaScript the code field is an ordinary form (door/scan answers with a
// page), and the search and the buttons by name work as before.
(function () {
  "use strict";
  var root = document.getElementById("door-scanner");
  if (!root || !window.fetch || !window.JSON || !window.Promise || !storageWorks()) { return; }
  var cfg = root.dataset;
  var KEY = "portal-door:" + cfg.slug + ":";
  var PREFIX = "PTK1:";
  var ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  var LIVE_TIMEOUT = 4000;
  var SYNC_BATCH = 200;
  var REPEAT_MS = 3000;
  var OWN_ADMISSION_MS = 10000;  // the camera re-reading a ticket it has just admitted keeps it green
  var STATUS_WORDS = { pending: "pending approval", waitlisted: "on the waiting list", cancelled: "cancelled", rejected: "rejected" };

  var el = function (id) { return document.getElementById(id); };
  var statusLine = el("door-status"), onlineWord = el("door-online"), waitingCount = el("door-waiting"), note = el("door-note");
  var resultBox = el("door-result"), form = el("door-code-form"), field = el("door-code"), log = el("door-log");
  var cameraBox = el("door-camera"), cameraButton = el("door-camera-button"), video = el("door-video");
  var device = el("door-device"), doorName = el("door-name"), held = el("door-held"), forget = el("door-forget");
  var countNow = el("check-in-count"), offlineNote = el("check-in-offline");

  var csrf = cfg.csrf;
  var list = load("tickets", null);       // {event, tickets: {CODE: ticket}, loaded_at}
  var queue = load("queue", []);          // scans admitted here, not yet received by the server
  var signedOut = false;
  var syncing = false, retryTimer = null, backoff = 1000;
  var lastCode = "", lastCodeAt = 0;
  var admittedHere = null;                // {code, at, result, how}: the last ticket this device saw admitted

  function storageWorks() {
    try { localStorage.setItem("portal-door-probe", "1"); localStorage.removeItem("portal-door-probe"); return true; } catch (e) { return false; }
  }
  function load(name, fallback) {
    try { var value = localStorage.getItem(KEY + name); return value ? JSON.parse(value) : fallback; } catch (e) { return fallback; }
  }
  function save(name, value) {
    try { localStorage.setItem(KEY + name, JSON.stringify(value)); } catch (e) { /* storage full: kept in memory */ }
  }

  // --- codes, as the server reads them (documents/tickets.py) ---------------------------
  function normalise(text) {
    if (typeof text !== "string" || text.length > 40) { return null; }
    var code = text.replace(/\s+/g, "").replace(/-/g, "").toUpperCase().replace(/[IL]/g, "1").replace(/O/g, "0");
    if (code.length !== 10) { return null; }
    for (var i = 0; i < code.length; i++) { if (ALPHABET.indexOf(code.charAt(i)) < 0) { return null; } }
    return code;
  }
  function isTicket(text) { return typeof text === "string" && text.trim().slice(0, PREFIX.length).toUpperCase() === PREFIX; }
  function readCode(text) {
    text = (text || "").trim();
    return isTicket(text) ? normalise(text.slice(PREFIX.length)) : normalise(text);
  }
  function shown(code) { return code.slice(0, 5) + "-" + code.slice(5); }
  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- the event's days, in its own zone -------------------------------------------------
  function dateIn(at, zone) {
    var parts = {};
    new Intl.DateTimeFormat("en-GB", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(at).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day;
  }
  function timeIn(at, zone) {
    return new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(at);
  }
  // A time with its zone named, as the server writes it: "14:03 (Asia/Singapore)".
  function zoneName(zone) { return "(" + zone.replace(/_/g, " ") + ")"; }
  function zonedTime(at, zone) { return timeIn(at, zone) + " " + zoneName(zone); }
  function zonedDateTime(at, zone) {
    return new Intl.DateTimeFormat("en-GB", { timeZone: zone, day: "numeric", month: "short", year: "numeric" }).format(at) +
      ", " + zonedTime(at, zone);
  }
  function shift(day, n) {
    var d = new Date(day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function dayOf(event, local) {
    var days = event.days;
    return local < days[0] ? days[0] : (local > days[days.length - 1] ? days[days.length - 1] : local);
  }

  // --- what the door shows -----------------------------------------------------------------
  var SIGNS = { admitted: "✓", already: "!", refused: "✗" };
  function show(result, how, again) {
    resultBox.replaceChildren();
    resultBox.className = "door-result door-" + result.tone;
    var headline = document.createElement("p");
    headline.className = "door-headline";
    headline.textContent = SIGNS[result.tone] + " " + result.headline;
    resultBox.appendChild(headline);
    [["door-name", result.name], ["door-organisation", result.organisation], ["door-detail", result.detail],
     ["door-detail", result.clock_note], ["door-detail", how], ["door-detail", result.code ? "Code " + result.code : ""]]
      .forEach(function (line) {
        if (!line[1]) { return; }
        var p = document.createElement("p");
        p.className = line[0];
        p.textContent = line[1];
        resultBox.appendChild(p);
      });
    resultBox.hidden = false;
    if (again) { return; }  // the same answer shown once more: no buzz, no new line in the log
    if (navigator.vibrate) { navigator.vibrate(result.tone === "admitted" ? 80 : [80, 60, 80]); }
    remember(result);
  }
  function remember(result) {
    var item = document.createElement("li");
    item.className = "door-log-" + result.tone;
    item.textContent = zonedTime(new Date(), zone()) + " " + result.headline + (result.name ? ": " + result.name : "");
    log.insertBefore(item, log.firstChild);
    while (log.children.length > 10) { log.removeChild(log.lastChild); }
    log.hidden = false;
  }
  function zone() { return (list && list.event.timezone) || cfg.timezone; }

  function updateStatus() {
    var online = navigator.onLine;
    statusLine.hidden = false;
    statusLine.classList.toggle("door-offline", !online);
    onlineWord.textContent = online ? "Online" : "Offline";
    waitingCount.textContent = String(queue.length);
    statusLine.dataset.waiting = String(queue.length);
    statusLine.dataset.online = online ? "yes" : "no";
    var words = [];
    if (signedOut) { words.push("Signed out: sign in again to send the waiting scans."); }
    else if (!online && queue.length) { words.push("They are kept on this device and sent when the network returns."); }
    if (!list) { words.push("No ticket list on this device yet: scanning needs the network until it has one."); }
    note.textContent = words.join(" ");
    if (list) {
      var count = Object.keys(list.tickets).length;
      held.textContent = count + " tickets of this event are held on this device (as of " + zonedDateTime(new Date(list.loaded_at), zone()) + ").";
      statusLine.dataset.tickets = String(count);
    }
    forget.disabled = queue.length > 0;
    // The buttons by name post to the server: offline they cannot work, so they wait.
    if (offlineNote) { offlineNote.hidden = online; }
    document.querySelectorAll("#check-in-results button").forEach(function (button) { button.disabled = !online; });
  }

  // --- the count and the list of names, without a reload -------------------------------------
  // A person admitted here while offline: one more in the count, and their line in the list
  // says so (the server's page replaces both when the network returns).
  function countOneMore() {
    if (!countNow) { return; }
    var n = parseInt(countNow.textContent, 10);
    if (!isNaN(n)) { countNow.textContent = String(n + 1); }
  }
  function markInList(code, at) {
    var item = document.querySelector('#check-in-results li[data-code="' + code + '"]');
    if (!item) { return; }
    var box = document.createElement("div"), line = document.createElement("p"), sign = document.createElement("span");
    var name = document.createElement("strong"), small = document.createElement("small");
    box.className = "checked-in";
    sign.setAttribute("aria-hidden", "true");
    sign.textContent = "✓";
    name.textContent = item.dataset.name || "";
    small.textContent = "checked in " + zonedTime(at, zone()) + " on this device";
    line.append(sign, " ", name, document.createElement("br"), small);
    box.appendChild(line);
    item.replaceChildren(box);
  }
  // The count and the list as the server has them now (check-in.js fetches the page again).
  function fromServer() {
    var search = document.querySelector("form[data-live-search] input[type=search]");
    if (search) { search.dispatchEvent(new Event("input")); }
  }

  // --- deciding on this device (offline) ---------------------------------------------------
  function decideHere(scan) {
    var refused = function (headline, detail, ticket) {
      return { outcome: "refused", tone: "refused", headline: headline, detail: detail, name: ticket ? ticket.name : "",
               organisation: ticket ? ticket.organisation : "", code: shown(scan.code) };
    };
    if (!list) { return refused("Cannot check", "This device has no ticket list for the event yet, and the server cannot be reached."); }
    var event = list.event, ticket = list.tickets[scan.code];
    if (event.cancelled) { return refused("Event cancelled", "Nobody can be checked in: this event is cancelled."); }
    if (!ticket) { return refused("Not on this event's list", "No ticket of this event has this code: it may be another event's, or mistyped."); }
    if (ticket.status !== "confirmed") {
      var words = STATUS_WORDS[ticket.status] || ticket.status;
      return refused("Not confirmed: " + words, "Do not admit: this registration is " + words + ".", ticket);
    }
    var at = new Date(scan.at), local = dateIn(at, event.timezone);
    if (local < shift(event.days[0], -1) || local > event.days[event.days.length - 1]) {
      return refused("Not today", "This event runs " + event.days[0] + " to " + event.days[event.days.length - 1] + ".", ticket);
    }
    var day = dayOf(event, local), first = ticket.days[day];
    var person = { name: ticket.name, organisation: ticket.organisation, code: shown(scan.code), day: day };
    if (first) {
      return Object.assign(person, { outcome: "already", tone: "already", headline: "Already checked in",
        detail: "Checked in at " + zonedTime(new Date(first.at), event.timezone) + ", " + first.door + "." });
    }
    ticket.days[day] = { at: scan.at, door: scan.door };
    save("tickets", list);
    queue.push(scan);
    save("queue", queue);
    return Object.assign(person, { outcome: "admitted", tone: "admitted", headline: "Checked in", detail: "" });
  }

  // What the server said of a ticket, kept for when the network goes.
  function learn(result) {
    if (!list || !result.code) { return; }
    var ticket = list.tickets[result.code.replace("-", "")];
    if (!ticket) { return; }
    if (result.status) { ticket.status = result.status; }
    if (result.day && (result.outcome === "admitted" || result.outcome === "already") && !ticket.days[result.day]) {
      ticket.days[result.day] = { at: result.first_at || result.at, door: result.first_door || doorName.value };
    }
    save("tickets", list);
  }

  // --- the server ----------------------------------------------------------------------------
  function post(url, body, timeout) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller && timeout ? setTimeout(function () { controller.abort(); }, timeout) : null;
    return fetch(url, {
      method: "POST", credentials: "same-origin", redirect: "manual", signal: controller ? controller.signal : undefined,
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (timer) { clearTimeout(timer); }
      return answer(response);
    }, function (error) {
      if (timer) { clearTimeout(timer); }
      throw error;
    });
  }
  function answer(response) {
    if (response.type === "opaqueredirect" || response.status === 401) {
      signedOut = true;
      updateStatus();
      throw new Error("signed out");
    }
    if (response.status === 403) {  // a new CSRF cookie since the page loaded (a sign-in): fetch the token again
      refreshTickets();
      throw new Error("refused");
    }
    if (!response.ok && response.status !== 422) { throw new Error("answered " + response.status); }
    signedOut = false;
    return response.json();
  }

  function refreshTickets() {
    if (!navigator.onLine) { return Promise.resolve(); }
    return fetch(cfg.ticketsUrl, { credentials: "same-origin", redirect: "manual", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.type === "opaqueredirect" || !response.ok) {
          signedOut = response.type === "opaqueredirect";
          // Signed out, with nothing left to send: the names go from this device.
          if (signedOut && !queue.length) { localStorage.removeItem(KEY + "tickets"); list = null; }
          return;
        }
        return response.json().then(function (body) {
          var tickets = {};
          body.tickets.forEach(function (t) { tickets[t.code] = t; });
          list = { event: body.event, tickets: tickets, loaded_at: new Date().toISOString() };
          // Admissions made here and not yet received are not in the server's list.
          queue.forEach(function (scan) {
            var ticket = tickets[scan.code], day = dayOf(body.event, dateIn(new Date(scan.at), body.event.timezone));
            if (ticket && !ticket.days[day]) { ticket.days[day] = { at: scan.at, door: scan.door }; }
          });
          csrf = body.csrf_token || csrf;
          signedOut = false;
          save("tickets", list);
        });
      })
      .catch(function () { /* keep the list held here */ })
      .then(updateStatus);
  }

  function scheduleSync(delay) {
    window.clearTimeout(retryTimer);
    retryTimer = window.setTimeout(syncNow, delay);
  }
  function syncNow() {
    if (syncing || !queue.length || !navigator.onLine) { updateStatus(); return; }
    syncing = true;
    var batch = queue.slice(0, SYNC_BATCH);
    post(cfg.syncUrl, { scans: batch }).then(function (body) {
      var answered = {}, recorded = false;
      body.results.forEach(function (result, i) {
        answered[batch[i].scan_id] = true;
        recorded = recorded || !!result.recorded;
        learn(result);
        if (result.tone === "refused") { remember(result); }  // the server knew better: say so
      });
      if (recorded || body.results.length) { fromServer(); }
      queue = queue.filter(function (scan) { return !answered[scan.scan_id]; });
      save("queue", queue);
      syncing = false;
      backoff = 1000;
      updateStatus();
      if (queue.length) { scheduleSync(0); }
    }).catch(function () {
      syncing = false;
      backoff = Math.min(backoff * 2, 60000);
      updateStatus();
      scheduleSync(backoff);
    });
  }

  // --- one scan --------------------------------------------------------------------------------
  function check(code) {
    var scan = { scan_id: newId(), code: code, at: new Date().toISOString(), door: doorName.value.trim() };
    var here = function (how) {
      var result = decideHere(scan);
      show(result, result.tone === "refused" ? "" : how);
      admitted(result, result.tone === "refused" ? "" : how);
      if (result.outcome === "admitted") {
        countOneMore();
        markInList(scan.code, new Date(scan.at));
      }
      updateStatus();
      if (result.tone === "admitted") { scheduleSync(1000); }
    };
    if (!navigator.onLine) { here("Decided on this device (offline); sent when the network returns."); return Promise.resolve(); }
    return post(cfg.scanUrl, scan, LIVE_TIMEOUT).then(function (result) {
      learn(result);
      show(result, "");
      admitted(result, "");
      // The count and the list of names below catch up (check-in.js fetches them again).
      if (result.recorded) { fromServer(); }
    }, function () {
      here("Decided on this device: the server did not answer. It is sent when it does.");
    });
  }
  function admitted(result, how) {
    if (result.outcome === "admitted" && result.code) {
      admittedHere = { code: result.code.replace("-", ""), at: Date.now(), result: result, how: how };
    }
  }
  // A code read by the camera or from a picture: the portal's tickets only, and the same
  // ticket held in front of the camera is read once, not ten times a second. Still held up a
  // few seconds after this device admitted it, it keeps its green answer (not "Already
  // checked in", which is for someone who came in before).
  function decoded(text) {
    if (!isTicket(text)) { return false; }
    var code = readCode(text), now = Date.now();
    if (!code || (code === lastCode && now - lastCodeAt < REPEAT_MS)) { return false; }
    if (admittedHere && admittedHere.code === code && now - admittedHere.at < OWN_ADMISSION_MS) {
      lastCode = code;
      lastCodeAt = now;
      show(admittedHere.result, admittedHere.how, true);
      return true;
    }
    lastCode = code;
    lastCodeAt = now;
    check(code);
    return true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var code = readCode(field.value);
    if (!code) {
      show({ tone: "refused", headline: "Not a ticket", detail: "That is not a check-in code: a code has 10 letters and digits, like 7K3QX-2M49D." }, "");
      field.focus();
      return;
    }
    field.value = "";
    check(code);
    field.focus();
  });

  // --- the camera ----------------------------------------------------------------------------
  var detector = null, stream = null, canvas = document.createElement("canvas"), scanning = false;

  function decoder() {
    if (detector) { return Promise.resolve(detector); }
    if ("BarcodeDetector" in window) {
      return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
        if (formats.indexOf("qr_code") < 0) { throw new Error("no qr_code"); }
        var native = new window.BarcodeDetector({ formats: ["qr_code"] });
        detector = function (source) {
          return native.detect(source).then(function (codes) { return codes.map(function (c) { return c.rawValue; }); });
        };
        return detector;
      }).catch(jsqr);
    }
    return jsqr();
  }
  function jsqr() {
    return new Promise(function (resolve, reject) {
      var ready = function () {
        detector = function (source) {
          var width = source.videoWidth || source.naturalWidth || source.width, height = source.videoHeight || source.naturalHeight || source.height;
          var scale = Math.min(1, 800 / Math.max(width, height));
          canvas.width = Math.round(width * scale);
          canvas.height = Math.round(height * scale);
          var context = canvas.getContext("2d", { willReadFrequently: true });
          context.drawImage(source, 0, 0, canvas.width, canvas.height);
          var pixels = context.getImageData(0, 0, canvas.width, canvas.height);
          var found = window.jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts: "attemptBoth" });
          return Promise.resolve(found ? [found.data] : []);
        };
        resolve(detector);
      };
      if (window.jsQR) { ready(); return; }
      var script = document.createElement("script");
      script.src = cfg.decoderUrl;
      script.onload = ready;
      script.onerror = function () { reject(new Error("The QR decoder could not be loaded.")); };
      document.head.appendChild(script);
    });
  }
  function decodeFrom(source) {
    return decoder().then(function (detect) { return detect(source); }).then(function (texts) {
      for (var i = 0; i < texts.length; i++) { if (decoded(texts[i])) { return texts[i]; } }
      return null;
    });
  }
  function tick() {
    if (!scanning) { return; }
    var next = function () { window.setTimeout(tick, 150); };
    if (video.readyState < 2) { next(); return; }
    decodeFrom(video).then(next, next);
  }
  function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      show({ tone: "refused", headline: "No camera here", detail: "This browser cannot use the camera on this page: type the codes instead." }, "");
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      scanning = true;
      cameraButton.textContent = "Stop the camera";
      return video.play().then(tick);
    }).catch(function (error) {
      show({ tone: "refused", headline: "The camera did not start", detail: (error && error.name === "NotAllowedError")
        ? "The browser was not allowed to use the camera: allow it for this site, or type the codes instead."
        : "The camera could not be started: type the codes instead." }, "");
    });
  }
  function stopCamera() {
    scanning = false;
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    stream = null;
    video.hidden = true;
    cameraButton.textContent = "Start the camera";
  }
  cameraButton.addEventListener("click", function () { if (scanning) { stopCamera(); } else { startCamera(); } });
  document.addEventListener("visibilitychange", function () { if (document.hidden && scanning) { stopCamera(); } });

  // A picture of a ticket (an <img>, a canvas, or an image's address) through the same decoder
  // and the same steps as the camera's frames; the browser tests feed the scanner this way.
  window.portalDoor = {
    scanImage: function (source) {
      if (typeof source !== "string") { return decodeFrom(source); }
      return new Promise(function (resolve, reject) {
        var image = new Image();
        image.onload = function () { resolve(decodeFrom(image)); };
        image.onerror = function () { reject(new Error("not an image")); };
        image.src = source;
      });
    },
    waiting: function () { return queue.length; }
  };

  // --- this device -------------------------------------------------------------------------
  doorName.value = localStorage.getItem("portal-door:name") || ("Door " + newId().slice(0, 4).toUpperCase());
  doorName.addEventListener("change", function () { localStorage.setItem("portal-door:name", doorName.value.trim()); });
  localStorage.setItem("portal-door:name", doorName.value.trim());
  forget.addEventListener("click", function () {
    if (queue.length) { return; }
    localStorage.removeItem(KEY + "tickets");
    list = null;
    if (window.caches) { caches.delete("portal-door-v1"); }
    updateStatus();
  });

  function keepForOffline() {
    if (!("serviceWorker" in navigator) || !window.caches) { return; }
    navigator.serviceWorker.register(cfg.workerUrl, { scope: cfg.pageUrl }).catch(function () { /* works without it, until a reload */ });
    var assets = [cfg.pageUrl, cfg.decoderUrl];
    document.querySelectorAll("link[rel=stylesheet][href], script[src]").forEach(function (node) {
      var url = new URL(node.getAttribute("href") || node.getAttribute("src"), location.href);
      if (url.origin === location.origin) { assets.push(url.pathname); }
    });
    caches.open("portal-door-v1").then(function (cache) { return cache.addAll(assets); }).catch(function () { /* offline already */ });
  }

  cameraBox.hidden = false;
  device.hidden = false;
  window.addEventListener("online", function () { updateStatus(); refreshTickets().then(function () { scheduleSync(0); }); });
  window.addEventListener("offline", updateStatus);
  updateStatus();
  refreshTickets().then(function () { scheduleSync(0); });
  window.setInterval(function () { if (navigator.onLine && !queue.length) { refreshTickets(); } }, 60000);
  keepForOffline();
})();
