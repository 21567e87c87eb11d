// The embeddings playground: texts (one a line) embedded by POST /v1/embeddings, and the cosine
// similarity of every pair drawn as a table whose cells are coloured by their value.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("playground-data").textContent);
  const result = document.getElementById("embed-result");
  const button = document.getElementById("embed-run");
  const MAX_TEXTS = 32;

  function cosine(a, b) {
    let dot = 0, aa = 0, bb = 0;
    for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
    return aa && bb ? dot / Math.sqrt(aa * bb) : 0;
  }

  // White to blue for 0..1, white to orange for 0..-1; text black or white, whichever reads better.
  function paint(cell, value) {
    const strength = Math.min(1, Math.abs(value));
    const [r, g, b] = value >= 0 ? [11, 87, 208] : [194, 65, 12];
    const mix = (c) => Math.round(255 + (c - 255) * strength);
    const rgb = [mix(r), mix(g), mix(b)];
    cell.style.background = `rgb(${rgb.join(",")})`;
    const linear = rgb.map((c) => { const s = c / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; });
    const luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2];
    cell.style.color = (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) ? "#000" : "#fff";
  }

  function matrix(texts, vectors) {
    const short = (text) => (text.length > 40 ? text.slice(0, 39) + "…" : text);
    const head = aiaas.el("tr", {}, aiaas.el("th", {scope: "col", text: "Text"}),
      texts.map((text, i) => aiaas.el("th", {scope: "col", title: text, text: `#${i + 1}`})));
    const rows = texts.map((text, i) => aiaas.el("tr", {},
      aiaas.el("th", {scope: "row", title: text, text: `#${i + 1} ${short(text)}`}),
      vectors.map((vector, j) => {
        const value = cosine(vectors[i], vector);
        const cell = aiaas.el("td", {title: `#${i + 1} vs #${j + 1}`, text: value.toFixed(2)});
        paint(cell, value);
        return cell;
      })));
    return aiaas.el("div", {class: "table-wrap"}, aiaas.el("table", {class: "matrix", id: "embedding-matrix"},
      aiaas.el("caption", {class: "muted", text: `${texts.length} texts, ${vectors[0].length} dimensions each`}),
      aiaas.el("thead", {}, head), aiaas.el("tbody", {}, rows)));
  }

  document.getElementById("embed-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const texts = document.getElementById("embed-texts").value.split("\n")
      .map((line) => line.trim()).filter((line) => line.length > 0);
    if (texts.length < 2 || texts.length > MAX_TEXTS) {
      aiaas.showError(result, new Error(`Write 2 to ${MAX_TEXTS} texts, one a line (got ${texts.length}).`));
      return;
    }
    button.disabled = true;
    result.replaceChildren(aiaas.el("p", {class: "muted", text: "Embedding…"}));
    try {
      const answer = await aiaas.json("/v1/embeddings", {method: "POST", json: {model: data.model, input: texts}});
      const vectors = [...answer.data].sort((a, b) => a.index - b.index).map((item) => item.embedding);
      result.replaceChildren(matrix(texts, vectors),
        aiaas.el("p", {class: "muted", text: `${answer.usage.prompt_tokens} tokens.`}));
    } catch (error) {
      aiaas.showError(result, error);
    } finally {
      button.disabled = false;
    }
  });
});
