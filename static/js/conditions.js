// Conditional questions on the registration and manage forms. Optional: without JavaScript
// every question is shown, each conditional one saying when it applies, and the server keeps
// only the answers of the questions that apply. With it, a question shows only while an
// earlier answer asks for it; while hidden, its fields are disabled so they are not sent.
//
// A conditional question's wrapper holds data-show-if="<key of the earlier question>" and
// data-show-values='["<value>", ...]'. The earlier question's answer is read from the form's
// enabled fields of that name, or, for an answer the page shows but does not let change,
// from data-answer-key / data-answer-values.
(function () {
  "use strict";
  var form = document.querySelector("form[data-conditions]");
  if (!form) { return; }
  var wrappers = Array.prototype.slice.call(form.querySelectorAll("[data-show-if]"));
  if (!wrappers.length) { return; }

  function parse(text) {
    try { return JSON.parse(text || "[]"); } catch (e) { return []; }
  }

  function answersOf(key) {
    var found = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name !== key || el.disabled) { return; }
      if (el.type === "radio" || el.type === "checkbox") {
        if (el.checked) { found.push(el.value); }
      } else if (el.tagName === "SELECT") {
        Array.prototype.forEach.call(el.selectedOptions, function (o) { if (o.value) { found.push(o.value); } });
      } else if (el.value) {
        found.push(el.value);
      }
    });
    Array.prototype.forEach.call(form.querySelectorAll("[data-answer-key]"), function (el) {
      if (el.getAttribute("data-answer-key") === key && !el.closest("[hidden]")) {
        found = found.concat(parse(el.getAttribute("data-answer-values")));
      }
    });
    return found;
  }

  function setShown(wrapper, shown) {
    wrapper.hidden = !shown;
    Array.prototype.forEach.call(wrapper.querySelectorAll("input, select, textarea"), function (el) {
      // A full choice stays disabled whatever happens.
      el.disabled = !shown || el.hasAttribute("data-full");
    });
  }

  function update() {
    // In page order: a question hidden here hides, in turn, those that depend on it.
    wrappers.forEach(function (wrapper) {
      var wanted = parse(wrapper.getAttribute("data-show-values"));
      var shown = answersOf(wrapper.getAttribute("data-show-if")).some(function (value) {
        return wanted.indexOf(value) !== -1;
      });
      setShown(wrapper, shown);
    });
  }

  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();
})();
