// Search as you type on the check-in page. Optional: without JavaScript the search form
// works as an ordinary GET form. Fetches the same page and swaps in its list of people.
(function () {
  "use strict";
  var form = document.querySelector("form[data-live-search]");
  var results = document.getElementById("check-in-results");
  if (!form || !results || !window.fetch || !window.DOMParser) { return; }
  var input = form.querySelector("input[type=search]");
  var timer = null;
  var latest = 0;

  function search() {
    var url = form.action + "?q=" + encodeURIComponent(input.value.trim());
    var ticket = ++latest;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null || ticket !== latest) { return; }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("check-in-results");
        if (fresh) {
          results.replaceChildren.apply(results, Array.prototype.slice.call(fresh.childNodes));
          window.history.replaceState(null, "", url);
        }
        // The count of those checked in, as the server has it now (the door's scans change it).
        var count = document.getElementById("check-in-count"), freshCount = page.getElementById("check-in-count");
        if (count && freshCount) { count.textContent = freshCount.textContent; }
      })
      .catch(function () { /* keep the current list; the Find button still works */ });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(search, 250);
  });
  // Typed before this script ran (a slow page, a busy phone): search for it now, or the list
  // would stay as the page came until the next key.
  var shown = window.URLSearchParams ? (new URLSearchParams(window.location.search).get("q") || "") : "";
  if (input.value.trim() !== shown.trim()) { search(); }
})();
