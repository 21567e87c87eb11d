// The forecast playground: a horizon (and optionally newer points) sent to the native predict
// route; the series and the forecast with its interval drawn (uPlot, the band between lower and
// upper) and listed in a table.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("playground-data").textContent);
  const $ = (id) => document.getElementById(id);
  const chart = $("forecast-chart"), result = $("forecast-result");

  // Seconds since the epoch; times without a zone are UTC, as the server means them.
  function seconds(stamp) {
    const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(stamp) || stamp.length <= 10 ? stamp : `${stamp}Z`;
    return Date.parse(zoned) / 1000;
  }

  function given() {
    const points = [];
    $("forecast-history").value.split("\n").forEach((line, i) => {
      if (!line.trim()) return;
      const parts = line.split(/[,;\t]/).map((part) => part.trim());
      const value = Number(parts[1]);
      if (parts.length !== 2 || Number.isNaN(seconds(parts[0])) || parts[1] === "" || !Number.isFinite(value)) {
        throw new Error(`Line ${i + 1}: expected "timestamp,value" (an ISO date and a number), got "${line.trim()}".`);
      }
      points.push({timestamp: parts[0], value});
    });
    return points;
  }

  function draw(history, answer) {
    const known = new Map(history.map(([stamp, value]) => [seconds(stamp), value]));
    const ahead = answer ? answer.timestamps.map(seconds) : [];
    const x = [...new Set([...known.keys(), ...ahead])].sort((a, b) => a - b);
    const series = {history: x.map((t) => (known.has(t) ? known.get(t) : null))};
    if (answer) {
      const at = new Map(ahead.map((t, i) => [t, i]));
      const last = history.length ? seconds(history[history.length - 1][0]) : null;
      const pick = (values) => x.map((t) => (at.has(t) ? values[at.get(t)] : t === last ? known.get(t) : null));
      series.forecast = pick(answer.forecast);
      series.lower = pick(answer.lower);
      series.upper = pick(answer.upper);
    }
    chart.replaceChildren();
    if (!x.length) return;
    aiaasCharts.lines(chart, {x, series}, {yLabel: data.value_name, bands: answer ? [["lower", "upper"]] : []});
  }

  function table(answer) {
    const level = answer.level ? ` (${Math.round(answer.level * 100)}% interval)` : "";
    return aiaas.el("div", {class: "table-wrap"}, aiaas.el("table", {id: "forecast-table"},
      aiaas.el("caption", {class: "muted", text: `${answer.forecast.length} steps ahead${level}`}),
      aiaas.el("thead", {}, aiaas.el("tr", {}, ["Time", "Forecast", "Lower", "Upper"].map(
        (name) => aiaas.el("th", {scope: "col", text: name})))),
      aiaas.el("tbody", {}, answer.timestamps.map((stamp, i) => aiaas.el("tr", {},
        aiaas.el("td", {text: stamp}),
        [answer.forecast, answer.lower, answer.upper].map((values) => aiaas.el("td", {text: values[i].toFixed(3)})))))));
  }

  const stored = data.stored ? data.stored.timestamps.map((stamp, i) => [stamp, data.stored.values[i]]) : [];
  draw(stored, null);

  $("forecast-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("forecast-run");
    button.disabled = true;
    try {
      const horizon = Number($("forecast-horizon").value);
      if (!Number.isInteger(horizon)) throw new Error(`Horizon: a whole number of steps, 1 to ${data.horizon}.`);
      const points = given();
      const item = points.length ? {horizon, history: points} : {horizon};
      result.replaceChildren(aiaas.el("p", {class: "muted", text: "Forecasting…"}));
      const answer = (await aiaas.json(`/api/v1/models/${encodeURIComponent(data.model)}/predict`,
                                       {method: "POST", json: {inputs: [item]}})).outputs[0];
      // What the forecast starts from: the stored series with the given points over it.
      const merged = new Map(stored.map(([stamp, value]) => [seconds(stamp), [stamp, value]]));
      for (const point of points) merged.set(seconds(point.timestamp), [point.timestamp, point.value]);
      draw([...merged.values()].sort((a, b) => seconds(a[0]) - seconds(b[0])), answer);
      result.replaceChildren(table(answer));
    } catch (error) {
      aiaas.showError(result, error);
    } finally {
      button.disabled = false;
    }
  });
});
