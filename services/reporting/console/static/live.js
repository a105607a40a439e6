// Live updates: one EventSource on /api/v1/events/stream; `onProjectionChange(callback)` runs the
// callback at most every `debounceMs` after the reporting read model changed. The browser reconnects
// by itself when the stream drops.
"use strict";

window.onProjectionChange = function onProjectionChange(callback, debounceMs = 300) {
  const indicator = document.querySelector("[data-live]");
  let timer = null;
  const source = new EventSource("/api/v1/events/stream");
  source.addEventListener("open", () => indicator && indicator.classList.add("on"));
  source.addEventListener("error", () => indicator && indicator.classList.remove("on"));
  source.addEventListener("change", () => {
    if (timer !== null) return;
    timer = setTimeout(() => { timer = null; callback(); }, debounceMs);
  });
  return source;
};
