// Datasets page: upload a file to the real POST /api/v1/datasets (multipart) with a progress bar;
// the server's refusal (a CSV error naming its line, a taken name) is shown in its own words.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  if (!form) return;
  const result = document.getElementById("result");
  const progress = document.getElementById("progress");
  const button = form.querySelector('button[type="submit"]');
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new FormData();
    for (const field of ["name", "label", "split_column", "timestamp", "pii"]) {
      const value = form.elements[field].value.trim();
      if (value) body.append(field, value);
    }
    body.append("file", form.elements.file.files[0]);  // last: the fields are read first
    button.disabled = true;
    progress.value = 0;
    result.replaceChildren(aiaas.el("p", {class: "muted", text: "Uploading…"}));
    try {
      const dataset = await aiaas.upload("/api/v1/datasets", body,
        {onProgress: (fraction) => { progress.value = fraction; }});
      progress.value = 1;
      const shape = dataset.kind === "images" ? `${dataset.rows} images`
        : `${dataset.rows} rows, ${Object.keys(dataset.columns).length} columns`;
      result.replaceChildren(aiaas.el("p", {class: "notice good", role: "status"},
        `Stored ${dataset.name} (${shape}). `,
        aiaas.el("a", {href: `/datasets/${encodeURIComponent(dataset.name)}`,
                       text: `Open dataset ${dataset.name}`})));
    } catch (error) {
      progress.value = 0;
      aiaas.showError(result, error);
    } finally {
      button.disabled = false;
    }
  });
});
