// The classify playground: a text, an image or a row of features sent to the native predict
// route, the answer as probability bars; "Explain" asks /explain why: words coloured by their
// attribution (text), the heat-map overlay (images), ranked features as signed bars (tabular).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("playground-data").textContent);
  const $ = (id) => document.getElementById(id);
  const result = $("classify-result"), why = $("explain-result");
  const route = (verb) => `/api/v1/models/${encodeURIComponent(data.model)}/${verb}`;
  const tabular = data.task.startsWith("tabular-");
  const image = data.task === "image-classification";
  const signed = (v) => (v >= 0 ? "+" : "") + v.toFixed(4);
  let picture = null;  // the chosen image file

  // -- inputs --------------------------------------------------------------------------------
  const features = () => [...document.querySelectorAll("input.feature")];

  // The form's record; a blank field is left out, so the server names what is missing.
  function record() {
    const row = {};
    for (const input of features()) {
      if (input.value.trim() !== "") row[input.name] = Number(input.value);
    }
    return row;
  }

  function fill() {
    const text = $("row-paste").value.trim();
    const inputs = features();
    let values = null;
    if (/^[[{]/.test(text)) {
      try { values = JSON.parse(text); } catch (error) { throw new Error(`The row is not valid JSON: ${error.message}`); }
    } else {
      values = text.split(/[\s,;]+/).filter((part) => part.length > 0).map(Number);
    }
    if (Array.isArray(values)) {
      if (values.length !== inputs.length) throw new Error(`Expected ${inputs.length} numbers, got ${values.length}.`);
      const bad = values.findIndex((v) => typeof v !== "number" || !Number.isFinite(v));
      if (bad >= 0) throw new Error(`Value ${bad + 1} (${inputs[bad].name}) is not a number.`);
      inputs.forEach((input, i) => { input.value = String(values[i]); });
    } else {
      const names = new Set(inputs.map((input) => input.name));
      const unknown = Object.keys(values).filter((name) => !names.has(name));
      if (unknown.length) throw new Error(`Unknown feature(s): ${unknown.slice(0, 5).join(", ")}.`);
      for (const input of inputs) if (input.name in values) input.value = String(values[input.name]);
    }
  }

  function readDataUrl(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(new Error("The image could not be read."));
      reader.readAsDataURL(file);
    });
  }

  function choose(file) {
    if (!file) return;
    picture = file;
    const preview = $("image-preview");
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.alt = `The chosen image: ${file.name}`;
    preview.style.width = "192px";
    preview.style.imageRendering = "pixelated";
    preview.hidden = false;
  }

  function needPicture() {
    if (!picture) throw new Error("Choose an image first.");
    return picture;
  }

  // -- calls -----------------------------------------------------------------------------------
  async function predict() {
    if (image) {
      const form = new FormData();
      form.append("file", needPicture());
      return (await aiaas.call(route("predict"), {method: "POST", body: form})).json();
    }
    const item = tabular ? record() : $("text-input").value;
    return aiaas.json(route("predict"), {method: "POST", json: {inputs: [item]}});
  }

  async function explain() {
    const item = image ? await readDataUrl(needPicture()) : tabular ? record() : $("text-input").value;
    return aiaas.json(route("explain"), {method: "POST", json: {inputs: [item]}});
  }

  // -- answers ---------------------------------------------------------------------------------
  function answer(output) {
    if (output.probabilities) {
      const ranked = Object.entries(output.probabilities).sort((a, b) => b[1] - a[1]);
      return [aiaas.el("p", {}, "Label ", aiaas.el("strong", {text: output.label}),
                       ` (${(output.score * 100).toFixed(1)}%)`),
              aiaas.bars(ranked.map(([label, value]) => ({label, value})))];
    }
    return [aiaas.el("div", {class: "stat"}, aiaas.el("span", {class: "muted", text: "Value"}),
                     aiaas.el("strong", {text: String(output.value)}))];
  }

  // Blue for words that pushed towards the target, orange against (the bars' colours); the text
  // black or white, whichever reads better on it.
  function tint(node, value, most) {
    const strength = Math.min(1, Math.abs(value) / most);
    const base = value >= 0 ? [11, 87, 208] : [194, 65, 12];
    const rgb = base.map((c) => Math.round(255 + (c - 255) * strength));
    node.style.background = `rgb(${rgb.join(",")})`;
    const linear = rgb.map((c) => { const s = c / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; });
    const luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2];
    node.style.color = (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) ? "#000" : "#fff";
  }

  function words(text, spans, target) {
    const most = Math.max(1e-9, ...spans.map((w) => Math.abs(w.attribution)));
    const line = aiaas.el("p", {class: "output", id: "explained-text"});
    let cursor = 0;
    for (const w of spans) {
      if (w.start > cursor) line.append(text.slice(cursor, w.start));
      const span = aiaas.el("span", {class: "word", title: `${w.word}: ${signed(w.attribution)}`, text: text.slice(w.start, w.end) || w.word});
      tint(span, w.attribution, most);
      line.append(span);
      cursor = Math.max(cursor, w.end);
    }
    line.append(text.slice(cursor));
    const top = [...spans].sort((a, b) => Math.abs(b.attribution) - Math.abs(a.attribution)).slice(0, 8);
    return [line, aiaas.el("p", {class: "muted", text: `Blue words pushed towards ${target}, orange ones away; the strongest:`}),
            aiaas.bars(top.map((w) => ({label: w.word, value: w.attribution})), {signed: true, format: signed})];
  }

  function explanation(found, text) {
    const target = found.target === null ? "the value" : `"${found.target}" (${found.output})`;
    const parts = [aiaas.el("p", {class: "muted", text:
      `${found.method} SHAP for ${target}: base ${found.base_value.toFixed(4)} + attributions = ${found.output_value.toFixed(4)}.`})];
    if (found.features) {
      const effect = found.target === null ? "blue raised the value, orange lowered it" : `blue pushed towards ${target}, orange away`;
      const ranked = aiaas.bars(found.features.map((f) => ({label: `${f.name} = ${f.value}`, value: f.attribution})),
                                {signed: true, format: signed});
      ranked.id = "feature-bars";
      parts.push(aiaas.el("p", {class: "muted", text: `Features, strongest first: ${effect}.`}), ranked);
    } else if (found.words) {
      parts.push(...words(text, found.words, target));
    } else if (found.overlay_png) {
      const overlay = aiaas.el("img", {id: "explain-overlay", src: `data:image/png;base64,${found.overlay_png}`,
        alt: `Explanation overlay: red where pixels pushed towards ${target}, blue where they pushed away`});
      overlay.style.width = "256px";
      overlay.style.imageRendering = "pixelated";
      parts.push(overlay, aiaas.el("p", {class: "muted", text: `Red pixels pushed towards ${target}, blue ones away.`}));
    }
    return parts;
  }

  async function run(button, target, busyText, work) {
    button.disabled = true;
    target.replaceChildren(aiaas.el("p", {class: "muted", text: busyText}));
    try {
      target.replaceChildren(...await work());
    } catch (error) {
      aiaas.showError(target, error);
    } finally {
      button.disabled = false;
    }
  }

  // -- wiring ----------------------------------------------------------------------------------
  $("classify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run($("classify-run"), result, "Classifying…", async () => answer((await predict()).outputs[0]));
  });
  $("explain-run").addEventListener("click", () => {
    const text = tabular || image ? "" : $("text-input").value;
    run($("explain-run"), why, "Explaining… (many model calls: seconds)", async () =>
      explanation((await explain()).explanations[0], text));
  });
  if (tabular) {
    $("row-fill").addEventListener("click", () => {
      try { fill(); result.replaceChildren(); } catch (error) { aiaas.showError(result, error); }
    });
  }
  if (image) {
    const zone = $("drop-zone"), input = $("image-file");
    input.addEventListener("change", () => choose(input.files[0]));
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragging"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const file = event.dataTransfer.files[0];
      if (file) { input.files = event.dataTransfer.files; choose(file); }
    });
  }
});
