"use strict";
// The model page's serving options: PATCH the version through the API with only the fields set,
// show the server's answer (an int8 build's measured delta, or its refusal in words), reload.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("serving");
  if (!form) return;
  const result = document.getElementById("serving-result");
  const numbers = new Set(["max_batch_size", "batch_wait_ms", "max_accuracy_delta"]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = {};
    for (const [name, raw] of new FormData(form).entries()) {
      const value = String(raw).trim();
      if (name === "version" || value === "") continue;
      if (name === "preload") changes.preload = value === "true";
      else if (numbers.has(name)) changes[name] = Number(value);
      else changes[name] = value;
    }
    if (!Object.keys(changes).length) {
      result.replaceChildren(aiaas.el("p", {class: "notice", text: "Nothing to change: fill a field first."}));
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    result.replaceChildren(aiaas.el("p", {class: "muted", text: changes.precision === "int8"
      ? "Building and measuring the int8 form…" : "Applying…"}));
    const url = `/api/v1/models/${encodeURIComponent(form.dataset.model)}/versions/${form.elements.version.value}`;
    try {
      const version = await aiaas.json(url, {method: "PATCH", json: changes});
      const delta = version.serving?.builds?.int8?.delta;
      result.replaceChildren(aiaas.el("p", {class: "notice good", role: "status"},
        `v${version.version} updated` + (delta !== undefined ? ` (int8 delta ${Number(delta).toFixed(4)})` : "") +
        ". It takes effect on its next call."));
      setTimeout(() => location.reload(), 1200);
    } catch (error) {
      aiaas.showError(result, error);
    } finally {
      button.disabled = false;
    }
  });
});
