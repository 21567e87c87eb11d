"use strict";
// The live part of the overview re-renders on the server every 10 s while the tab is visible.
document.addEventListener("DOMContentLoaded", () => {
  const refresh = async () => {
    if (document.hidden) return;
    const response = await aiaas.call(location.pathname);
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const live = fresh.getElementById("live");
    if (live) document.getElementById("live").replaceWith(live);
  };
  setInterval(() => { refresh().catch(() => {}); }, 10000);
});
