// Shared by every console page: calls to the JSON API with the session's CSRF token, errors in
// words, copy buttons, confirmations, tabs, and small DOM helpers. No framework, no build step.
"use strict";

const aiaas = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  class ApiError extends Error {
    constructor(status, body) {
      const error = body && body.error ? body.error : null;
      super(error ? error.message : `HTTP ${status}`);
      this.status = status;
      this.code = error ? error.code : "error";
      this.details = error ? error.details : null;
    }
  }

  async function call(url, options = {}) {
    const headers = new Headers(options.headers || {});
    if (options.method && options.method !== "GET") headers.set("X-CSRF-Token", csrf());
    let body = options.body;
    if (options.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(options.json);
    }
    const response = await fetch(url, {...options, body, headers, credentials: "same-origin"});
    if (response.status === 401) {
      location.assign(`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
      throw new ApiError(401, null);
    }
    if (!response.ok) {
      let parsed = null;
      try { parsed = await response.json(); } catch (_) { /* not JSON */ }
      throw new ApiError(response.status, parsed);
    }
    return response;
  }

  async function json(url, options = {}) {
    const response = await call(url, options);
    return response.status === 204 ? null : response.json();
  }

  // Upload with progress (fetch cannot report upload progress): XMLHttpRequest.
  function upload(url, body, {method = "POST", contentType, onProgress} = {}) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open(method, url);
      request.setRequestHeader("X-CSRF-Token", csrf());
      if (contentType) request.setRequestHeader("Content-Type", contentType);
      request.upload.onprogress = (event) => {
        if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
      };
      request.onload = () => {
        let parsed = null;
        try { parsed = JSON.parse(request.responseText); } catch (_) { /* not JSON */ }
        if (request.status >= 200 && request.status < 300) resolve(parsed);
        else reject(new ApiError(request.status, parsed));
      };
      request.onerror = () => reject(new ApiError(0, {error: {code: "network", message: "the upload failed: connection lost"}}));
      request.send(body);
    });
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function showError(target, error) {
    target.replaceChildren(el("p", {class: "notice error", role: "alert", text: error.message}));
  }

  // Horizontal bars, one per {label, value in [0, 1]}: class probabilities, feature weights.
  function bars(items, {format = (v) => (v * 100).toFixed(1) + "%", signed = false} = {}) {
    const most = Math.max(1e-9, ...items.map((item) => Math.abs(item.value)));
    return el("ul", {class: "bars"}, items.map((item) => {
      const width = signed ? Math.abs(item.value) / most * 100 : Math.max(0, item.value) * 100;
      const fill = el("span", {class: `bar-fill${signed && item.value < 0 ? " negative" : ""}`});
      fill.style.width = `${width.toFixed(1)}%`;  // CSSOM, which the CSP allows (no style="")
      return el("li", {},
        el("span", {class: "bar-label", text: item.label}),
        el("span", {class: "bar-track", "aria-hidden": "true"}, fill),
        el("span", {class: "bar-value", text: format(item.value)}));
    }));
  }

  // An element with data-live="10000" and an id is re-rendered from the server's own page every
  // 10 s while the tab is visible (the overview's traffic, the jobs list while a job runs).
  function keepLive(element) {
    const every = Number(element.dataset.live) || 10000;
    const timer = setInterval(async () => {
      if (document.hidden) return;
      try {
        const response = await call(location.pathname + location.search);
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        const replacement = fresh.getElementById(element.id);
        if (!replacement) return;
        const current = document.getElementById(element.id);
        current.replaceWith(replacement);
        if (!replacement.hasAttribute("data-live")) clearInterval(timer);
      } catch (_) { /* the next tick tries again */ }
    }, every);
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const element of document.querySelectorAll("[data-live][id]")) keepLive(element);
    for (const form of document.querySelectorAll("form[data-confirm]")) {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    }
    for (const button of document.querySelectorAll("[data-copy]")) {
      button.addEventListener("click", async () => {
        const source = document.getElementById(button.dataset.copy);
        await navigator.clipboard.writeText(source.value ?? source.textContent);
        button.textContent = "Copied";
      });
    }
    for (const list of document.querySelectorAll('[role="tablist"]')) {
      const tabs = [...list.querySelectorAll('[role="tab"]')];
      const select = (tab) => {
        for (const other of tabs) {
          const selected = other === tab;
          other.setAttribute("aria-selected", String(selected));
          other.tabIndex = selected ? 0 : -1;
          document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
        }
      };
      tabs.forEach((tab, index) => {
        tab.addEventListener("click", () => select(tab));
        tab.addEventListener("keydown", (event) => {
          const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
          if (step) { const next = tabs[(index + step + tabs.length) % tabs.length]; select(next); next.focus(); }
        });
      });
    }
  });

  return {call, json, upload, el, bars, showError, csrf, ApiError};
})();
window.aiaas = aiaas;
