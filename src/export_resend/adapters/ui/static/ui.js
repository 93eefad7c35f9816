// Progressive enhancement of the operator page: everything works without this file.
// - a form marked data-once cannot be sent twice by a double click (its Idempotency-Key
//   makes a second send harmless anyway);
// - the CC editor adds and removes rows in place;
// - a PENDING export's page reloads itself once the export's status changes;
// - after a submit, focus goes to the message that reports its outcome.
"use strict";
(function () {
  function focusMessage() {
    var target = document.querySelector("[data-focus]");
    if (target) { target.focus(); }
  }

  function guardDoubleSubmit(form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sending") === "yes") { event.preventDefault(); return; }
      var submitter = event.submitter;
      if (submitter && submitter.value === "add-cc") { return; }
      form.setAttribute("data-sending", "yes");
      form.setAttribute("aria-busy", "true");
    });
  }

  function renumber(editor) {
    var rows = editor.querySelectorAll(".cc-row");
    var label = editor.getAttribute("data-label");
    rows.forEach(function (row, index) {
      var name = label.replace("{n}", String(index + 1));
      row.querySelector("label").textContent = name;
      row.querySelector("[data-cc-name]").textContent = " " + name;
    });
    var add = editor.querySelector("[data-cc-add]");
    if (add) { add.hidden = rows.length >= Number(editor.getAttribute("data-max")); }
  }

  function enhanceCcEditor(editor) {
    var list = editor.querySelector(".cc-rows");
    editor.querySelectorAll("[data-cc-remove]").forEach(function (button) { button.hidden = false; });
    editor.addEventListener("click", function (event) {
      var remove = event.target.closest("[data-cc-remove]");
      if (remove) {
        var row = remove.closest(".cc-row");
        var next = row.nextElementSibling || row.previousElementSibling;
        if (list.querySelectorAll(".cc-row").length > 1) {
          row.remove();
        } else {
          row.querySelector("input").value = "";
        }
        var focusTarget = next ? next.querySelector("input") : list.querySelector("input");
        if (focusTarget) { focusTarget.focus(); }
        renumber(editor);
        return;
      }
      var add = event.target.closest("[data-cc-add]");
      if (add) {
        event.preventDefault();
        var rows = list.querySelectorAll(".cc-row");
        var copy = rows[rows.length - 1].cloneNode(true);
        var input = copy.querySelector("input");
        var label = copy.querySelector("label");
        var id = input.id.replace(/-\d+$/, "-" + Date.now());
        input.id = id;
        input.value = "";
        input.removeAttribute("aria-invalid");
        label.setAttribute("for", id);
        copy.querySelectorAll(".issues").forEach(function (node) { node.remove(); });
        list.appendChild(copy);
        input.focus();
        renumber(editor);
      }
    });
  }

  function pollStatus(badge) {
    var url = badge.getAttribute("data-poll-status");
    var shown = badge.textContent.trim();
    var tries = 0;
    var timer = window.setInterval(function () {
      tries += 1;
      if (tries > 300) { window.clearInterval(timer); return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/plain" } })
        .then(function (response) { return response.ok ? response.text() : shown; })
        .then(function (status) {
          if (status.trim() !== shown) {
            window.clearInterval(timer);
            window.location.reload();
          }
        })
        .catch(function () {});
    }, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-once]").forEach(guardDoubleSubmit);
    document.querySelectorAll("[data-cc-editor]").forEach(enhanceCcEditor);
    document.querySelectorAll("[data-poll-status]").forEach(pollStatus);
    focusMessage();
  });
})();
