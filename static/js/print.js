// The printable ticket's Print button: hidden until this runs (so without JavaScript there is
// no button that does nothing), then it opens the browser's print dialog. The button sits in
// a no-print block, so the paper does not carry it.
(function () {
  "use strict";
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
    button.hidden = false;
  });
})();
