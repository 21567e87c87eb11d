// The chat playground: a conversation kept in this page, each answer streamed from
// POST /v1/chat/completions (server-sent events read from the response body as they arrive),
// the sampling the user set, usage and speed at the end, and Stop (aborting the fetch, which
// stops the generation on the server).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("playground-data").textContent);
  const $ = (id) => document.getElementById(id);
  const log = $("chat-log"), status = $("chat-status"), send = $("chat-send"), stop = $("chat-stop");
  const history = [];  // the conversation so far: [{role, content}], system prompt excluded
  let controller = null;

  function say(text) { status.textContent = text; }

  function message(role, text) {
    $("chat-empty")?.remove();
    const body = aiaas.el("div", {class: "output", text});
    log.append(aiaas.el("div", {class: `message ${role}`},
      aiaas.el("strong", {text: role === "user" ? "You" : data.model}), body));
    return body;
  }

  // The sampling fields as request arguments; an empty field is left to the model's default.
  function sampling() {
    const chosen = {};
    for (const [id, name, integer] of [["chat-temperature", "temperature", false],
                                       ["chat-top-p", "top_p", false],
                                       ["chat-max-tokens", "max_tokens", true]]) {
      const field = $(id);
      if (field.value.trim() === "") continue;
      const value = Number(field.value);
      if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) {
        throw new Error(`${field.labels[0].textContent.trim()}: expected ${integer ? "a whole number" : "a number"}`);
      }
      chosen[name] = value;
    }
    const stops = $("chat-stop-sequences").value.split("\n").filter((line) => line.length > 0);
    if (stops.length) chosen.stop = stops;
    return chosen;
  }

  // Server-sent events of a streamed answer: each "data: {...}" line parsed, until [DONE].
  async function* chunks(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const {value, done} = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, {stream: true});
        const lines = buffer.split("\n");
        buffer = lines.pop();
        for (const line of lines) {
          if (!line.startsWith("data:")) continue;
          const payload = line.slice(5).trim();
          if (payload === "[DONE]") return;
          yield JSON.parse(payload);
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  function busy(on) {
    send.disabled = on;
    stop.disabled = !on;
    $("chat-reset").disabled = on;
    log.setAttribute("aria-busy", String(on));
  }

  function stats(usage, finish, started, first, ended) {
    const seconds = (ended - started) / 1000;
    $("stat-prompt").textContent = usage ? usage.prompt_tokens : "–";
    $("stat-completion").textContent = usage ? usage.completion_tokens : "–";
    $("stat-speed").textContent = usage && seconds > 0 ? (usage.completion_tokens / seconds).toFixed(1) : "–";
    $("stat-first").textContent = first === null ? "–" : `${Math.round(first - started)} ms`;
    $("stat-finish").textContent = finish || "–";
  }

  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const prompt = $("chat-prompt");
    const text = prompt.value;
    let chosen;
    try {
      if (!text.trim()) throw new Error("Write a message first.");
      chosen = sampling();
    } catch (error) {
      aiaas.showError(status, error);
      return;
    }
    history.push({role: "user", content: text});
    const asked = message("user", text);
    prompt.value = "";
    const system = $("chat-system").value.trim();
    const messages = [...(system ? [{role: "system", content: system}] : []), ...history];
    const answer = message("assistant", "");
    controller = new AbortController();
    busy(true);
    say("Writing…");
    const started = performance.now();
    let first = null, usage = null, finish = null;
    try {
      const response = await aiaas.call("/v1/chat/completions", {
        method: "POST", signal: controller.signal,
        json: {model: data.model, messages, stream: true, stream_options: {include_usage: true}, ...chosen},
      });
      for await (const chunk of chunks(response)) {
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices && chunk.choices[0];
        if (!choice) continue;
        if (choice.delta && choice.delta.content) {
          if (first === null) first = performance.now();
          answer.append(choice.delta.content);
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
      const ended = performance.now();
      stats(usage, finish, started, first, ended);
      say(usage ? `Done: ${usage.completion_tokens} tokens at ${$("stat-speed").textContent} tokens/s.` : "Done.");
    } catch (error) {
      if (error.name === "AbortError") {
        stats(null, "stopped", started, first, performance.now());
        say("Stopped: the answer so far stays in the conversation.");
      } else {
        aiaas.showError(status, error);
      }
    } finally {
      const said = answer.textContent;
      if (said.trim()) {
        history.push({role: "assistant", content: said});
      } else {  // nothing came back: the turn is undone and the message is back in the box
        history.pop();
        answer.parentElement.remove();
        asked.parentElement.remove();
        prompt.value = text;
      }
      controller = null;
      busy(false);
    }
  });

  stop.addEventListener("click", () => { if (controller) controller.abort(); });

  $("chat-reset").addEventListener("click", () => {
    history.length = 0;
    log.replaceChildren(aiaas.el("p", {class: "muted", id: "chat-empty", text: "No messages yet: the conversation stays in this page."}));
    say("");
  });
});
