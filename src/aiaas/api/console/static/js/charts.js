// Line charts over uPlot (vendored): usage per day, training curves as they arrive, forecasts.
"use strict";

const aiaasCharts = (() => {
  const palette = ["#0b57d0", "#c2410c", "#146c2e", "#7c3aed", "#b42318", "#0e7490", "#a16207", "#be185d"];

  // series: {name: [values aligned with x]}; bands: [[lowerName, upperName]] filled between.
  function lines(container, {x, series}, {time = true, yLabel = "", xLabel = "", bands = []} = {}) {
    const names = Object.keys(series);
    const width = () => Math.max(280, container.clientWidth - 8);
    const options = {
      width: width(), height: 260,
      scales: {x: {time}},
      axes: [{label: xLabel}, {label: yLabel}],
      series: [{}, ...names.map((name, i) => ({
        label: name, stroke: palette[i % palette.length], width: 2,
        dash: name.includes("lower") || name.includes("upper") ? [4, 4] : undefined,
      }))],
      bands: bands.map(([lower, upper]) => ({
        series: [names.indexOf(upper) + 1, names.indexOf(lower) + 1], fill: "rgba(11,87,208,0.12)"})),
    };
    const chart = new uPlot(options, [x, ...names.map((name) => series[name])], container);
    new ResizeObserver(() => chart.setSize({width: width(), height: 260})).observe(container);
    return chart;
  }

  return {lines, palette};
})();
window.aiaasCharts = aiaasCharts;
