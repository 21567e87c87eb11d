// One training job, followed live through its server-sent events (GET /api/v1/jobs/{id}/events,
// sent with the session cookie): status, progress bar, curves drawn as points arrive, the log
// tail, cancel; at the end the result section (metrics, plots, model) is taken from the page as
// the server renders it for a finished job.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("job");
  const id = root.dataset.id;
  const loadedFinished = root.dataset.finished === "true";
  const statusBox = document.getElementById("status");
  const stage = document.getElementById("stage");
  const progress = document.getElementById("progress");
  const cancel = document.getElementById("cancel");
  const notice = document.getElementById("notice");
  const curve = document.getElementById("curve");
  const log = document.getElementById("log");
  const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
  // Progress values that are not curves: counters, sizes and the final metrics (in the result).
  const NOT_CURVES = new Set(["step", "total", "epoch", "epochs", "batch", "batches", "eta_s", "fold",
    "train", "validation", "test", "origins", "classes", "part", "horizon", "time"]);
  const NO_POINTS = new Set(["split", "selected", "evaluated"]);

  function fitPlots() {
    for (const img of document.querySelectorAll("img.plot")) {
      img.style.maxWidth = "100%";
      img.style.height = "auto";
    }
  }

  // Curves: x is seconds since the job started running; one series per value name seen.
  const x = [];
  const series = {};
  let chart = null;
  let started = null;
  let rebuild = false;
  let drawing = false;

  function draw() {
    drawing = false;
    curve.dataset.points = String(x.length);
    const latest = Object.entries(series).map(([name, values]) => {
      const last = values.findLast((value) => value !== null);
      return last === undefined ? null : `${name} ${last.toFixed(4)}`;
    }).filter(Boolean);
    curve.setAttribute("aria-label", `Training curves: ${x.length} points; latest ${latest.join(", ")}`);
    if (chart && !rebuild) {
      chart.setData([x, ...Object.values(series)]);
      return;
    }
    if (chart) chart.destroy();
    rebuild = false;
    curve.replaceChildren();
    chart = aiaasCharts.lines(curve, {x, series}, {time: false, xLabel: "seconds since start", yLabel: "value"});
  }

  function addPoint(payload) {
    if (NO_POINTS.has(payload.stage)) return;
    const values = Object.entries(payload).filter(([name, value]) =>
      !NOT_CURVES.has(name) && typeof value === "number" && Number.isFinite(value));
    if (!values.length) return;
    const at = Date.parse(payload.time) / 1000;
    if (started === null) started = at;
    x.push(Math.max(0, at - started));
    const got = Object.fromEntries(values);
    for (const name of Object.keys(got)) {
      if (!(name in series)) {
        series[name] = new Array(x.length - 1).fill(null);
        rebuild = true;
      }
    }
    for (const [name, column] of Object.entries(series)) column.push(name in got ? got[name] : null);
    if (!drawing) {
      drawing = true;
      requestAnimationFrame(draw);
    }
  }

  // The log tail, read again at most every 1.5 s while events arrive.
  let logTimer = null;
  async function refreshLog() {
    try {
      const text = await (await aiaas.call(`/api/v1/jobs/${encodeURIComponent(id)}/logs`)).text();
      log.textContent = text.trimEnd().split("\n").slice(-40).join("\n");
      log.scrollTop = log.scrollHeight;
    } catch (error) {
      log.textContent = error.message;
    }
  }
  function soonLog() {
    if (logTimer === null) logTimer = setTimeout(() => { logTimer = null; refreshLog(); }, 1500);
  }

  async function refreshResults() {
    try {
      const response = await aiaas.call(location.pathname);
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html")
        .getElementById("results");
      if (fresh) document.getElementById("results").replaceWith(document.adoptNode(fresh));
      fitPlots();
    } catch (error) {
      aiaas.showError(notice, error);
    }
  }

  const source = new EventSource(`/api/v1/jobs/${encodeURIComponent(id)}/events`);
  let ended = false;
  function finish() {
    if (ended) return;
    ended = true;
    source.close();
    if (cancel) document.getElementById("cancel-box").hidden = true;  // [hidden] loses to the stylesheet on a button
    refreshLog();
    if (!loadedFinished) refreshResults();
  }

  function showStatus(payload) {
    const status = payload.status;
    root.dataset.status = status;
    const tone = status === "succeeded" ? " good" : FINISHED.has(status) ? " bad" : "";
    const words = payload.error || payload.reason || (payload.worker ? `on ${payload.worker}` : "");
    statusBox.replaceChildren(aiaas.el("span", {class: `tag${tone}`, text: status}), words ? ` ${words}` : "");
    if (status === "running" && started === null) started = Date.parse(payload.time) / 1000;
    if (status === "succeeded") progress.value = 1;
    if (FINISHED.has(status)) {
      stage.textContent = "";
      finish();
    }
  }

  function showProgress(payload) {
    if (payload.total) progress.value = Math.min(1, (payload.step || 0) / payload.total);
    const bits = [`stage ${payload.stage}`];
    if (payload.total) bits.push(`step ${payload.step}/${payload.total}`);
    if (payload.epoch) bits.push(`epoch ${payload.epoch}${payload.epochs ? "/" + payload.epochs : ""}`);
    if (payload.candidate) bits.push(payload.candidate);
    if (typeof payload.eta_s === "number" && payload.eta_s > 0) bits.push(`about ${Math.ceil(payload.eta_s)} s left`);
    stage.textContent = bits.join(" · ");
    addPoint(payload);
  }

  source.addEventListener("status", (event) => { showStatus(JSON.parse(event.data)); soonLog(); });
  source.addEventListener("progress", (event) => { showProgress(JSON.parse(event.data)); soonLog(); });
  source.addEventListener("log", soonLog);
  source.addEventListener("error", (event) => {
    if (event.data) {  // the server's own error event (it is shutting down): the browser resumes
      aiaas.showError(notice, {message: `${JSON.parse(event.data).message}; following again shortly`});
      return;
    }
    if (!ended && source.readyState === EventSource.CLOSED) {
      aiaas.showError(notice, {message: "Live updates stopped: the server refused the event stream. Reload the page to follow the job again."});
    }
  });

  if (cancel) {
    cancel.addEventListener("click", async () => {
      if (!window.confirm("Cancel this job? A running job stops at its next progress point and registers nothing.")) return;
      cancel.disabled = true;
      try {
        const job = await aiaas.json(`/api/v1/jobs/${encodeURIComponent(id)}/cancel`, {method: "POST"});
        notice.replaceChildren(aiaas.el("p", {class: "notice", text: job.status === "cancelled"
          ? "Job cancelled." : "Cancel requested: the job stops at its next progress point."}));
      } catch (error) {
        aiaas.showError(notice, error);
        cancel.disabled = false;
      }
    });
  }
  refreshLog();
  fitPlots();
});
