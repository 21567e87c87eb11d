// Evaluations: start one with the real POST /api/v1/evaluations (it runs in the request), then
// open it; on an evaluation's page and the comparison, plots are fitted to their column.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll("img.plot")) {
    img.style.maxWidth = "100%";
    img.style.height = "auto";
  }
  const form = document.getElementById("evaluate");
  const data = document.getElementById("versions");
  if (!form || !data) return;
  const versions = JSON.parse(data.textContent);
  const model = document.getElementById("eval-model");
  const version = document.getElementById("eval-version");
  const result = document.getElementById("result");
  const button = form.querySelector('button[type="submit"]');

  function offerVersions() {
    const choices = [...(versions[model.value] || [])].reverse().map((v) =>
      aiaas.el("option", {value: String(v.version),
                          text: `v${v.version}${v.aliases.length ? " (" + v.aliases.join(", ") + ")" : ""}`}));
    version.replaceChildren(aiaas.el("option", {value: "", text: "production, else the latest"}), ...choices);
  }
  model.addEventListener("change", offerVersions);
  offerVersions();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    result.replaceChildren(aiaas.el("p", {class: "muted", role: "status", text: "Evaluating…"}));
    try {
      const body = {model: model.value, dataset: document.getElementById("eval-dataset").value,
                    split: document.getElementById("eval-split").value,
                    params: aiaasParams.read(document.getElementById("eval-params"))};
      if (version.value) body.version = Number(version.value);
      const evaluation = await aiaas.json("/api/v1/evaluations", {method: "POST", json: body});
      result.replaceChildren(aiaas.el("p", {class: "notice good", role: "status",
                                            text: `Evaluated on ${evaluation.rows} rows.`}));
      location.assign(`/evaluations/${evaluation.id}`);
    } catch (error) {
      aiaas.showError(result, error);
      button.disabled = false;
    }
  });
});
