// The runbook's Print button (no inline onclick: the Content-Security-Policy runs scripts from files only).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-action='print']").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
});
