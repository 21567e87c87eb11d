// The PII page's "try it" box: the text goes to POST /api/v1/privacy/analyze (the JSON API the
// clients use, with the session's CSRF token) and the entities found and the redaction come back.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("pii-try");
  const text = document.getElementById("pii-text");
  const out = document.getElementById("pii-result");
  const {el} = aiaas;

  function render(source, result) {
    const rows = result.entities.map((e) => el("tr", {},
      el("th", {scope: "row", text: e.type}),
      el("td", {}, el("code", {text: source.slice(e.start, e.end)})),
      el("td", {text: `${e.start}–${e.end}`}),
      el("td", {text: e.score.toFixed(2)})));
    const table = el("table", {},
      el("caption", {class: "sr-only", text: "Entities found"}),
      el("thead", {}, el("tr", {},
        ["Type", "Text", "Position", "Score"].map((name) => el("th", {scope: "col", text: name})))),
      el("tbody", {}, rows.length ? rows
        : el("tr", {}, el("td", {colspan: "4", class: "muted", text: "No personal data found."}))));
    out.replaceChildren(
      el("h3", {text: `${result.entities.length} found`}),
      el("div", {class: "table-wrap"}, table),
      el("h3", {text: "Redacted"}),
      el("p", {class: "output", id: "pii-redacted", text: result.redacted}));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    const source = text.value;
    button.disabled = true;
    out.replaceChildren(el("p", {class: "muted", text: "Analysing…"}));
    try {
      const answer = await aiaas.json("/api/v1/privacy/analyze",
                                      {method: "POST", json: {texts: [source]}});
      render(source, answer.results[0]);
    } catch (error) {
      aiaas.showError(out, error);
    } finally {
      button.disabled = false;
    }
  });
});
