// Start a training job: the form for the chosen task (its parameters drawn by the server from
// the trainer's schema), sent to the real POST /api/v1/jobs; then on to the job's page.
// aiaasParams.read is shared with the evaluations page (which loads this file too).
"use strict";

const aiaasParams = (() => {
  // The parameters under `container` that differ from their defaults, typed as the schema says.
  function read(container) {
    const params = {};
    for (const control of container.querySelectorAll("[data-param]")) {
      const {param: name, kind, default: fallback} = control.dataset;
      if (kind === "boolean") {
        if (String(control.checked) !== fallback) params[name] = control.checked;
        continue;
      }
      if (control.validity && control.validity.badInput) {
        const label = container.querySelector(`label[for="${control.id}"]`);
        throw new Error(`${label ? label.textContent.trim() : name}: not a number`);
      }
      const raw = control.value.trim();
      if (raw === "" || raw === fallback) continue;
      if (kind === "integer" || kind === "number") params[name] = Number(raw);
      else if (kind === "integers") params[name] = raw.split(/[\s,]+/).filter(Boolean).map(Number);
      else params[name] = raw;
    }
    return params;
  }
  return {read};
})();
window.aiaasParams = aiaasParams;

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("job-form");
  if (!form) return;
  const taskSelect = document.getElementById("task");
  const datasetSelect = document.getElementById("dataset");
  const result = document.getElementById("result");
  const button = form.querySelector('button[type="submit"]');

  function choose(task) {
    for (const fieldset of form.querySelectorAll("fieldset[data-task]")) {
      const shown = fieldset.dataset.task === task;
      fieldset.hidden = !shown;
      fieldset.disabled = !shown;
    }
    for (const about of form.querySelectorAll("[data-about]")) about.hidden = about.dataset.about !== task;
    for (const option of datasetSelect.options) {
      option.disabled = !option.dataset.tasks.split(" ").includes(task);
    }
    if (!datasetSelect.selectedOptions.length || datasetSelect.selectedOptions[0].disabled) {
      const first = [...datasetSelect.options].find((option) => !option.disabled);
      datasetSelect.value = first ? first.value : "";
    }
  }
  taskSelect.addEventListener("change", () => choose(taskSelect.value));
  choose(taskSelect.value);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const task = taskSelect.value;
    const fieldset = document.getElementById(`params-${task}`);
    button.disabled = true;
    result.replaceChildren(aiaas.el("p", {class: "muted", text: "Starting…"}));
    try {
      const body = {task, dataset: datasetSelect.value,
                    name: document.getElementById("model-name").value.trim(),
                    params: aiaasParams.read(fieldset)};
      const promote = fieldset.querySelector("[data-promote]").value.trim();
      if (promote) body.promote_if = promote;
      const job = await aiaas.json("/api/v1/jobs", {method: "POST", json: body});
      result.replaceChildren(aiaas.el("p", {class: "notice good", role: "status",
                                            text: `Job ${job.id} queued.`}));
      location.assign(`/jobs/${job.id}`);
    } catch (error) {
      aiaas.showError(result, error);
      button.disabled = false;
    }
  });
});
