"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  const result = document.getElementById("result");
  const progress = document.getElementById("progress");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = form.elements.name.value.trim();
    const task = form.elements.task.value;
    const file = form.elements.archive.files[0];
    const query = task ? `?task=${encodeURIComponent(task)}` : "";
    form.querySelector("button").disabled = true;
    result.replaceChildren(aiaas.el("p", {class: "muted", text: "Uploading…"}));
    try {
      const version = await aiaas.upload(`/api/v1/models/${encodeURIComponent(name)}/versions${query}`,
        file, {contentType: "application/octet-stream", onProgress: (f) => { progress.value = f; }});
      progress.value = 1;
      result.replaceChildren(aiaas.el("p", {class: "notice good", role: "status"},
        `Registered ${version.model} v${version.version} (${version.task}). `,
        aiaas.el("a", {href: `/models/${encodeURIComponent(version.model)}`, text: "Open the model"})));
    } catch (error) {
      aiaas.showError(result, error);
    } finally {
      form.querySelector("button").disabled = false;
    }
  });
});
