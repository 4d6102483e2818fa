// The back office's warning before the session ends (templates/admin/_layout.html): the page
// says how many seconds the session lasts if no other request comes (auth._seconds_left), and
// five minutes before that a notice at the top of the screen asks the organiser to save. A
// request from another tab lengthens the session without this page knowing, so the notice
// says "about". Whatever is sent after the end is kept while they sign in again (kept.py).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="portal-session-left"]');
  var main = document.getElementById("main");
  if (!meta || !main) { return; }
  var left = parseInt(meta.getAttribute("content"), 10);
  if (isNaN(left)) { return; }
  var WARN = 5 * 60;
  var ends = Date.now() + left * 1000;
  var notice = null;

  function say(text) {
    if (!notice) {
      notice = document.createElement("div");
      notice.className = "notice session-clock";
      notice.setAttribute("role", "status");
      notice.appendChild(document.createElement("p"));
      main.insertBefore(notice, main.firstChild);
    }
    if (notice.firstChild.textContent !== text) { notice.firstChild.textContent = text; }
  }

  function tick() {
    var seconds = Math.round((ends - Date.now()) / 1000);
    if (seconds > WARN) { return; }
    if (seconds <= 0) {
      say("Your session has ended. What you send now is kept while you sign in again.");
      clearInterval(timer);
      return;
    }
    var minutes = Math.ceil(seconds / 60);
    say("Your session ends in about " + minutes + (minutes === 1 ? " minute" : " minutes") + ": save your work.");
  }

  var timer = setInterval(tick, 15000);
  tick();
}());
