"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("usage-data").textContent);
  const container = document.getElementById("usage-chart");
  if (!Object.keys(data.series).length) {
    container.replaceChildren(aiaas.el("p", {class: "muted", text: "No calls in this range."}));
    return;
  }
  aiaasCharts.lines(container, data, {yLabel: "calls"});
});
