// The event page's timetable (templates/public/_timetable.html). Optional: without JavaScript
// every day is shown, one after another, and each session has its anchor and its page.
//
// With it:
// - a day picker (tabs: Left and Right arrows, Home and End move between days; each day's
//   tab shows that day only). It opens on the day of the session the address points to
//   (#session-…), else today during the event, else the first day;
// - during the event, "now and next": the sessions on now and those starting next, marked in
//   the timetable and listed above it with links to them, brought up to date every 30 s.
//
// Each day says when it opens and closes (data-opens, data-closes: its local midnights in
// UTC) and each session when it starts and ends, so the browser's own clock and zone do not
// matter: only the instant is compared.
(function () {
  "use strict";
  var root = document.querySelector("[data-timetable]");
  if (!root) { return; }
  var days = Array.prototype.slice.call(root.querySelectorAll(".timetable-day"));
  if (!days.length) { return; }
  var sessions = Array.prototype.slice.call(root.querySelectorAll("[data-session]")).map(function (el) {
    var title = el.querySelector(".session-title a") || el.querySelector(".session-title");
    var slot = el.closest(".slot");
    var clock = slot && slot.querySelector(".slot-time time");
    return {
      el: el,
      starts: Date.parse(el.getAttribute("data-starts")),
      ends: Date.parse(el.getAttribute("data-ends")),
      title: title ? title.textContent.trim() : "",
      titleEl: el.querySelector(".session-title"),
      room: el.getAttribute("data-room") || "",
      at: clock ? clock.textContent.trim() : "",
      cancelled: el.classList.contains("is-cancelled")
    };
  });
  var tabs = [];

  function instant(el, name) { return Date.parse(el.getAttribute(name)); }

  function dayIndexAt(now) {
    for (var i = 0; i < days.length; i++) {
      if (instant(days[i], "data-opens") <= now && now < instant(days[i], "data-closes")) { return i; }
    }
    return -1;
  }

  // --- the day picker ------------------------------------------------------------------------

  function select(index, focus) {
    if (!tabs.length) { return; }
    tabs.forEach(function (tab, i) {
      var on = i === index;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      days[i].hidden = !on;
    });
    if (focus) { tabs[index].focus(); }
  }

  function onKey(event) {
    var index = tabs.indexOf(event.currentTarget);
    var to = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") { to = (index + 1) % tabs.length; }
    else if (event.key === "ArrowLeft" || event.key === "ArrowUp") { to = (index - 1 + tabs.length) % tabs.length; }
    else if (event.key === "Home") { to = 0; }
    else if (event.key === "End") { to = tabs.length - 1; }
    if (to === null) { return; }
    event.preventDefault();
    select(to, true);
  }

  function buildPicker() {
    if (days.length < 2) { return; }
    var list = document.createElement("div");
    list.className = "day-picker";
    list.setAttribute("role", "tablist");
    list.setAttribute("aria-label", "Days");
    days.forEach(function (day, i) {
      var tab = document.createElement("button");
      tab.type = "button";
      tab.id = day.id + "-tab";
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", day.id);
      tab.textContent = day.getAttribute("data-day-label");
      tab.addEventListener("click", function () { select(i, false); });
      tab.addEventListener("keydown", onKey);
      day.setAttribute("role", "tabpanel");
      day.setAttribute("aria-labelledby", tab.id);
      tabs.push(tab);
      list.appendChild(tab);
    });
    days[0].parentNode.insertBefore(list, days[0]);
  }

  // The element the address points to, if it lies in a day (a session's anchor).
  function showTarget() {
    var id = "";
    try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { return false; }
    var target = id && document.getElementById(id);
    var day = target && target.closest && target.closest(".timetable-day");
    if (!day) { return false; }
    select(days.indexOf(day), false);
    target.scrollIntoView();
    return true;
  }

  // --- now and next --------------------------------------------------------------------------

  var box = document.createElement("section");
  box.className = "timetable-now";
  box.setAttribute("aria-labelledby", "timetable-now-heading");
  box.hidden = true;

  function clearMarks() {
    Array.prototype.forEach.call(root.querySelectorAll("[data-mark]"), function (mark) { mark.remove(); });
    sessions.forEach(function (s) { s.el.classList.remove("is-now"); });
  }

  function mark(s, words, className) {
    if (!s.titleEl) { return; }
    var wrap = document.createElement("span");
    wrap.setAttribute("data-mark", "");
    var badge = document.createElement("strong");
    badge.className = "badge " + className;
    badge.textContent = words;
    wrap.appendChild(badge);
    wrap.appendChild(document.createTextNode(" "));
    s.titleEl.insertBefore(wrap, s.titleEl.firstChild);
  }

  function line(label, list) {
    var p = document.createElement("p");
    var strong = document.createElement("strong");
    strong.textContent = label + " ";
    p.appendChild(strong);
    list.forEach(function (s, i) {
      if (i) { p.appendChild(document.createTextNode("; ")); }
      var a = document.createElement("a");
      a.href = "#" + s.el.id;
      a.textContent = s.title;
      p.appendChild(a);
      if (s.room) { p.appendChild(document.createTextNode(" (" + s.room + ")")); }
    });
    return p;
  }

  function nowAndNext() {
    var now = Date.now();
    clearMarks();
    var live = sessions.filter(function (s) { return !s.cancelled; });
    var lastEnd = Math.max.apply(null, live.map(function (s) { return s.ends; }));
    if (!live.length || now < instant(days[0], "data-opens") || now >= lastEnd) {
      box.hidden = true;
      return;
    }
    var current = live.filter(function (s) { return s.starts <= now && now < s.ends; });
    var later = live.filter(function (s) { return s.starts > now; });
    var nextAt = later.length ? Math.min.apply(null, later.map(function (s) { return s.starts; })) : null;
    var next = later.filter(function (s) { return s.starts === nextAt; });
    current.forEach(function (s) { s.el.classList.add("is-now"); mark(s, "Now", "badge-now"); });
    next.forEach(function (s) { mark(s, "Next", "badge-next"); });
    while (box.firstChild) { box.removeChild(box.firstChild); }
    var heading = document.createElement("h3");
    heading.id = "timetable-now-heading";
    heading.textContent = "Now and next";
    box.appendChild(heading);
    if (current.length) { box.appendChild(line("Now:", current)); }
    if (next.length) { box.appendChild(line("Next, at " + next[0].at + ":", next)); }
    box.hidden = false;
  }

  // --- start ---------------------------------------------------------------------------------

  buildPicker();
  var zone = root.querySelector(".timetable-zone");
  (zone || root.firstElementChild).insertAdjacentElement("afterend", box);
  if (!showTarget()) {
    var today = dayIndexAt(Date.now());
    select(today >= 0 ? today : 0, false);
  }
  window.addEventListener("hashchange", showTarget);
  nowAndNext();
  window.setInterval(nowAndNext, 30000);
}());
