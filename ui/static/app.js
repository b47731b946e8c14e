// purgehook admin page: keeps the timeline current and drives the
// purge-everything dialog. No build step; the page works without it
// except for these two.
"use strict";

function pollTimeline() {
  const el = document.getElementById("timeline");
  if (!el) return;
  const tick = async () => {
    try {
      const r = await fetch(el.dataset.src, { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { location.reload(); return; }
      if (r.ok) el.innerHTML = await r.text();
    } catch (e) { /* offline for a moment: try again on the next tick */ }
    setTimeout(tick, 2000);
  };
  setTimeout(tick, 2000);
}

function dialogs() {
  // A button with data-dialog opens that dialog; one with data-close
  // closes it and sends nothing.
  for (const b of document.querySelectorAll("[data-dialog]")) {
    b.addEventListener("click", () => document.getElementById(b.dataset.dialog).showModal());
  }
  for (const b of document.querySelectorAll("[data-close]")) {
    b.addEventListener("click", () => document.getElementById(b.dataset.close).close());
  }
}

document.addEventListener("DOMContentLoaded", () => { pollTimeline(); dialogs(); });
