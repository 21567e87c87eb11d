// The speech playground: an uploaded audio file or a microphone recording sent to
// POST /v1/audio/transcriptions (multipart, verbose_json), the transcript with its segments'
// times. Browsers record compressed WebM, which the server does not take: the recording is
// decoded here and sent as 16 kHz mono WAV.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("playground-data").textContent);
  const $ = (id) => document.getElementById(id);
  const result = $("speech-result"), recordStatus = $("record-status"), preview = $("audio-preview");
  const start = $("record-start"), stop = $("record-stop");
  let audio = null;  // {blob, name}: what Transcribe sends
  let recorder = null;

  function use(blob, name) {
    audio = {blob, name};
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(blob);
    preview.hidden = false;
  }

  function clock(seconds) {
    const minutes = Math.floor(seconds / 60);
    return `${minutes}:${(seconds - minutes * 60).toFixed(2).padStart(5, "0")}`;
  }

  function transcript(answer) {
    const rows = (answer.segments || []).map((segment) => aiaas.el("tr", {},
      aiaas.el("td", {text: clock(segment.start)}), aiaas.el("td", {text: clock(segment.end)}),
      aiaas.el("td", {text: segment.text.trim()})));
    return [
      aiaas.el("p", {class: "output", id: "transcript-text", text: answer.text || "(no speech heard)"}),
      aiaas.el("p", {class: "muted", text: `${answer.language ? `Language ${answer.language}, ` : ""}${(answer.duration || 0).toFixed(1)} s of audio.`}),
      aiaas.el("div", {class: "table-wrap"}, aiaas.el("table", {id: "segments"},
        aiaas.el("caption", {class: "muted", text: "Segments"}),
        aiaas.el("thead", {}, aiaas.el("tr", {}, aiaas.el("th", {scope: "col", text: "Start"}),
          aiaas.el("th", {scope: "col", text: "End"}), aiaas.el("th", {scope: "col", text: "Text"}))),
        aiaas.el("tbody", {}, rows))),
    ];
  }

  // 16-bit PCM WAV of the recording, resampled to mono 16 kHz (what the model hears anyway).
  async function toWav(blob) {
    const context = new AudioContext();
    let decoded;
    try { decoded = await context.decodeAudioData(await blob.arrayBuffer()); } finally { context.close(); }
    const rate = 16000;
    const offline = new OfflineAudioContext(1, Math.max(1, Math.ceil(decoded.duration * rate)), rate);
    const source = offline.createBufferSource();
    source.buffer = decoded;
    source.connect(offline.destination);
    source.start();
    const samples = (await offline.startRendering()).getChannelData(0);
    const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
    const text = (at, value) => { for (let i = 0; i < value.length; i++) view.setUint8(at + i, value.charCodeAt(i)); };
    text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
    text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
    text(36, "data"); view.setUint32(40, samples.length * 2, true);
    samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
    return new Blob([view], {type: "audio/wav"});
  }

  const canRecord = Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
  if (!canRecord) {
    start.disabled = true;
    recordStatus.textContent = "This browser cannot record from a microphone here (it needs MediaRecorder and a secure page: https or localhost). Upload a file instead.";
  }

  start.addEventListener("click", async () => {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({audio: true});
    } catch (error) {
      recordStatus.textContent = error.name === "NotAllowedError"
        ? "The microphone was not allowed: allow it for this site, or upload a file instead."
        : `No microphone could be opened (${error.name}): upload a file instead.`;
      return;
    }
    const parts = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (event) => parts.push(event.data));
    recorder.addEventListener("stop", async () => {
      stream.getTracks().forEach((track) => track.stop());
      try {
        use(await toWav(new Blob(parts, {type: recorder.mimeType})), "recording.wav");
        recordStatus.textContent = "Recorded: play it back or transcribe it.";
      } catch (error) {
        recordStatus.textContent = `The recording could not be converted: ${error.message}`;
      }
    });
    recorder.start();
    start.disabled = true;
    stop.disabled = false;
    recordStatus.textContent = "Recording… press Stop recording when done.";
  });

  stop.addEventListener("click", () => {
    if (recorder && recorder.state === "recording") recorder.stop();
    start.disabled = false;
    stop.disabled = true;
  });

  $("audio-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) use(file, file.name);
  });

  $("speech-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!audio) { aiaas.showError(result, new Error("Choose an audio file or record one first.")); return; }
    const button = $("speech-run");
    const form = new FormData();
    form.append("file", audio.blob, audio.name);
    form.append("model", data.model);
    form.append("response_format", "verbose_json");
    button.disabled = true;
    result.replaceChildren(aiaas.el("p", {class: "muted", text: "Transcribing…"}));
    try {
      const response = await aiaas.call("/v1/audio/transcriptions", {method: "POST", body: form});
      result.replaceChildren(...transcript(await response.json()));
    } catch (error) {
      aiaas.showError(result, error);
    } finally {
      button.disabled = false;
    }
  });
});
