// The latentdirs editor: sliders → POST /api/render → the image; discovery jobs → /api/jobs and their events.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { sets: [], renderTimer: null, inFlight: null, imageUrl: null, watching: new Map() };
const EXPORTS = ["ganspace", "interfacegan", "sefa"];

// -- helpers ------------------------------------------------------------------------------------------------
async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

const postJson = (path, body) =>
  api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function parseSeeds(text) {
  const seeds = [];
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [lo, hi] = part.split("-").map(Number);
    for (let s = lo; s <= (Number.isNaN(hi) || hi === undefined ? lo : hi) && seeds.length < 64; s++) seeds.push(s);
  }
  return seeds.filter((s) => Number.isInteger(s) && s >= 0);
}

const formatSeconds = (s) => (s == null ? "?" : s >= 60 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${s}s`);

// -- generators, direction sets, sliders ----------------------------------------------------------------------
async function loadGenerators() {
  const { generators } = await (await api("/api/generators")).json();
  const select = $("generator");
  select.replaceChildren(...generators.map((g) => new Option(`${g.name} (${g.origin})`, g.name)));
  await loadDirectionSets();
}

async function loadDirectionSets(preferred) {
  const generator = $("generator").value;
  const { direction_sets } = await (await api(`/api/directions?generator=${encodeURIComponent(generator)}`)).json();
  state.sets = direction_sets.filter((set) => !set.error);
  const select = $("dirset");
  const previous = preferred || select.value;
  select.replaceChildren(new Option("(none: plain samples)", ""),
    ...state.sets.map((set) => new Option(`${set.name} · ${set.method} · ${set.num_directions} in ${set.space}`, set.name)));
  if (state.sets.some((set) => set.name === previous)) select.value = previous;
  else if (state.sets.length) select.value = state.sets[0].name;
  buildSliders();
}

function currentSet() { return state.sets.find((set) => set.name === $("dirset").value); }

function buildSliders() {
  const set = currentSet();
  const box = $("sliders");
  box.replaceChildren();
  if (!set) {
    box.append(element("p", "No direction set chosen: start a discovery, or pick one above.", "hint"));
  } else {
    for (const direction of set.directions) {
      const row = element("div", undefined, "slider");
      const label = element("span", `${direction.label} `);
      if (direction.score != null) label.append(element("small", `${direction.score_name} ${direction.score.toPrecision(3)}`));
      const input = Object.assign(document.createElement("input"),
        { type: "range", min: -5, max: 5, step: 0.1, value: 0 });
      input.dataset.index = direction.index;
      input.setAttribute("aria-label", `direction ${direction.label}`);
      const value = element("output", "0.0");
      input.addEventListener("input", () => { value.textContent = Number(input.value).toFixed(1); scheduleRender(); });
      row.append(label, input, value);
      box.append(row);
    }
  }
  if (set && !$("trunc-own").checked) return scheduleRender();
  $("trunc").value = set ? set.truncation_psi : 1;
  $("trunc-value").textContent = Number($("trunc").value).toFixed(2);
  scheduleRender();
}

// -- rendering ------------------------------------------------------------------------------------------------
function scheduleRender() {
  clearTimeout(state.renderTimer);
  state.renderTimer = setTimeout(render, 120);  // debounce: one request per pause of the slider
}

async function render() {
  const set = currentSet();
  const strengths = {};
  for (const input of document.querySelectorAll("#sliders input")) {
    if (Number(input.value) !== 0) strengths[input.dataset.index] = Number(input.value);
  }
  const body = {
    generator: $("generator").value, seeds: parseSeeds($("seeds").value),
    columns: Math.max(1, Number($("columns").value) || 4), noise_mode: $("noise").value,
  };
  if (set) { body.directions = set.name; body.strengths = strengths; }
  if (set && $("layers").value.trim()) body.layers = $("layers").value.trim();
  if (!$("trunc-own").checked) body.trunc = Number($("trunc").value);
  if (state.inFlight) state.inFlight.abort();
  const controller = new AbortController();
  state.inFlight = controller;
  const started = performance.now();
  try {
    const response = await api("/api/render", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      signal: controller.signal,
    });
    const url = URL.createObjectURL(await response.blob());
    if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
    state.imageUrl = url;
    const image = $("image");
    image.src = url;
    image.dataset.version = Number(image.dataset.version) + 1;
    $("status").textContent = `${body.seeds.length} image(s) in ${Math.round(performance.now() - started)} ms`;
    $("status").classList.remove("error");
  } catch (error) {
    if (error.name === "AbortError") return;
    $("status").textContent = error.message;
    $("status").classList.add("error");
  }
}

// -- jobs -----------------------------------------------------------------------------------------------------
async function startDiscovery(event) {
  event.preventDefault();
  const form = new FormData($("discover"));
  const options = { generator: $("generator").value };
  for (const [key, value] of form) {
    if (value !== "") options[key] = ["num_directions", "steps", "batch_size"].includes(key) ? Number(value) : value;
  }
  $("job-error").textContent = "";
  try {
    const job = await (await postJson("/api/jobs", { command: "discover", options })).json();
    showJob(job);
    watch(job);
  } catch (error) {
    $("job-error").textContent = error.message;
  }
}

async function loadJobs() {
  const { jobs } = await (await api("/api/jobs")).json();
  for (const job of jobs.slice().reverse()) {
    showJob(job);
    if (!["done", "failed", "cancelled"].includes(job.state)) watch(job);
  }
}

function watch(job) {
  if (state.watching.has(job.id)) return;
  const source = new EventSource(job.links.events);
  state.watching.set(job.id, source);
  source.addEventListener("job", (event) => showJob(JSON.parse(event.data)));
  source.addEventListener("end", async () => {
    source.close();
    state.watching.delete(job.id);
    const finished = await (await api(job.links.self)).json();
    showJob(finished);
    if (finished.direction_set && finished.options.generator === $("generator").value) {
      await loadDirectionSets(finished.direction_set);
    }
  });
}

function showJob(job) {
  let item = $(`job-${job.id}`);
  if (!item) {
    item = element("li");
    item.id = `job-${job.id}`;
    $("jobs").prepend(item);
  }
  item.className = `state-${job.state}`;
  const title = element("div");
  title.append(element("strong", `${job.command} ${job.options.method || ""} `), element("span", job.state, "state"),
    element("small", ` · ${job.id}`));
  const parts = [title];
  const p = job.progress || {};
  if (p.total) {
    const bar = Object.assign(document.createElement("progress"), { max: p.total, value: p.step });
    const loss = p.loss != null ? ` · loss ${p.loss.toPrecision(3)}` : "";
    const eta = job.state === "running" ? ` · ETA ${formatSeconds(p.eta_s)}` : "";
    parts.push(bar, element("div", `${p.stage}: ${p.step}/${p.total}${loss}${eta}`));
  }
  if (job.error) parts.push(element("div", job.error, "error"));
  const links = element("div", undefined, "links");
  const link = (text, href) => Object.assign(element("a", text), { href, target: "_blank", rel: "noopener" });
  if (job.links.report) links.append(link("report", job.links.report));
  if (job.links.directions) links.append(link("directions", job.links.directions));
  if (job.links.exports) for (const fmt of EXPORTS) links.append(link(fmt, job.links.exports.replace("{format}", fmt)));
  links.append(link("log", job.links.log));
  if (["queued", "running"].includes(job.state)) {
    const cancel = element("button", "cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => postJson(`${job.links.self}/cancel`, {}).catch(
      (error) => { $("job-error").textContent = error.message; }));
    links.append(cancel);
  }
  parts.push(links);
  item.replaceChildren(...parts);
}

// -- wiring ---------------------------------------------------------------------------------------------------
function init() {
  $("generator").addEventListener("change", () => loadDirectionSets().catch(showError));
  $("dirset").addEventListener("change", buildSliders);
  for (const id of ["seeds", "columns", "layers", "noise"]) $(id).addEventListener("change", scheduleRender);
  $("trunc-own").addEventListener("change", () => { $("trunc").disabled = $("trunc-own").checked; scheduleRender(); });
  $("trunc").addEventListener("input", () => {
    $("trunc-value").textContent = Number($("trunc").value).toFixed(2);
    scheduleRender();
  });
  $("reset").addEventListener("click", () => {
    for (const input of document.querySelectorAll("#sliders input")) input.value = 0;
    for (const output of document.querySelectorAll("#sliders output")) output.textContent = "0.0";
    scheduleRender();
  });
  $("discover").addEventListener("submit", startDiscovery);
  loadGenerators().catch(showError);
  loadJobs().catch(showError);
}

function showError(error) {
  $("status").textContent = error.message;
  $("status").classList.add("error");
}

init();
