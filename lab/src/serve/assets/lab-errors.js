// Loaded first: every uncaught error and rejected promise is kept in window.labErrors (the browser test reads it)
// and shown at the top of the page.
window.labErrors = [];
window.addEventListener("error", function (e) {
  window.labErrors.push(String(e.message || e.type) + " at " + (e.filename || "?") + ":" + (e.lineno || 0));
});
window.addEventListener("unhandledrejection", function (e) {
  window.labErrors.push("unhandled rejection: " + String(e.reason));
});
