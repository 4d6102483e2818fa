// The new-event form (templates/admin/event_form.html): while the URL slug has not been typed
// in, it follows the title as it is typed, made the way the server makes one from a title
// (portal/text.py slug_from: accents and other non-ASCII characters dropped, lower case, other characters a single hyphen,
// at most 60 characters, cut at a hyphen). Without JavaScript an empty slug is made from the
// title when the form is saved, so this only shows it sooner.
(function () {
  "use strict";
  var title = document.getElementById("title");
  var slug = document.getElementById("slug");
  if (!title || !slug) { return; }
  var typed = slug.value !== "";

  function fromTitle(text) {
    var made = text.normalize("NFKD").replace(/[^\x00-\x7f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
    if (made.length > 60) {
      var cut = made.slice(0, 60);
      made = cut.indexOf("-") >= 0 ? cut.slice(0, cut.lastIndexOf("-")) : cut;
    }
    return made;
  }

  slug.addEventListener("input", function () { typed = slug.value !== ""; });
  title.addEventListener("input", function () {
    if (!typed) { slug.value = fromTitle(title.value); }
  });
}());
