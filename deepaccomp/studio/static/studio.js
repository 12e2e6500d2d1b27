// deepaccomp studio: melody editor, generation through /api, SoundFont playback.
// Plain ES module, no build step. The synthesiser is SpessaSynth (vendor/, Apache-2.0).
import { BasicMIDI, WorkletSynthesizer, audioBufferToWav } from "./vendor/spessasynth_lib.min.js";

const $ = (id) => document.getElementById(id);
// track colours: the melody red, then the accompaniment tracks in layout order (cycling)
const COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                "#7f7f7f"];
const colorOf = (k) => (k === 0 ? COLORS[0] : COLORS[1 + ((k - 1) % (COLORS.length - 1))]);
const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const KEYMAP = "awsedftgyhujkolp;";  // a=C w=C# s=D ... k=C+12 o=C#+12 l=D+12 p=D#+12 ;=E+12
const CELL = 14, ROW = 10, LABEL_W = 34;
const HISTORY_LIMIT = 50;  // undo steps kept (each holds the notes and, shared between steps, its take)
const WAV_PEAK_DBFS = -1;  // the rendered WAV is normalised to this peak: loud, never clipped
const NO_SERVER = "the studio server does not answer: is deepaccomp studio still running? Start it again, " +
  "then reload this page";
const EMPTY_MELODY = "the melody is empty: draw notes on the grid, play the keys or upload a .mid file first";

const state = {
  info: null,           // GET /api/info of the chosen model
  model: null,          // the chosen model's name (the style picker)
  notes: [],            // editor notes {pitch, start, length, velocity}
  file: null,           // {bytes, name} of an uploaded file while the editor is unchanged
  cursor: 0,            // step where the keyboard enters the next note
  octave: 4,
  result: null,         // last /api response
  resultRaw: null,      // the same, as the JSON text the server sent (what undo restores)
  lastRequest: null,    // the melody fields of the request that made the result (regenerate sends them again)
  history: [],          // undo: snapshots before each edit, take and regeneration (at most HISTORY_LIMIT)
  future: [],           // redo
  take: null,           // the last recording: {raw: notes as played (fractional steps), grid, notesJson}
  mute: [],             // per track of the result, melody first
  solo: [],
};

// ------------------------------------------------------------------ status, messages, helpers
function status(text, isError = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", isError);
}

// A message where the user is: in the header and in the panel of the action (melody, generate, result).
const PANEL_MSG = { melody: "melody-msg", generate: "gen-msg", result: "res-msg" };
function report(panel, text, isError = false) {
  status(text, isError);
  const box = $(PANEL_MSG[panel]);
  box.textContent = text;
  box.hidden = !text;
  box.classList.toggle("error", isError);
  if (isError) box.scrollIntoView({ block: "nearest" });
}
function clearMessage(panel) { const box = $(PANEL_MSG[panel]); box.textContent = ""; box.hidden = true; }

// Inputs in error are outlined (and aria-invalid) until they are changed.
function markInvalid(id, on = true) {
  const el = $(id);
  if (!el) return;
  el.classList.toggle("invalid", on);
  if (on) el.setAttribute("aria-invalid", "true"); else el.removeAttribute("aria-invalid");
}
function clearInvalid() { document.querySelectorAll(".invalid").forEach((el) => markInvalid(el.id, false)); }

class FieldError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

// the page's field a server message is about, from the name the message starts with
const FIELD_OF_MESSAGE = [[/^seed\b/, "seed"], [/noise_scale/, "noise"], [/^tempo\b/, "tempo"], [/^pickup\b/, "pickup"],
  [/^melody_program\b/, "prog-0"], [/^model\b/, "model"], [/programs|preset/, "preset"], [/melody is empty|^notes/, "editor"]];
function fieldOf(message) {
  const hit = FIELD_OF_MESSAGE.find(([re]) => re.test(message));
  return hit ? hit[1] : null;
}

// A number field's value, checked as the server checks it; empty gives null where `optional`.
function readField(id, label, lo, hi, { integer = false, optional = false, openLow = false } = {}) {
  const text = $(id).value.trim();
  const range = `${integer ? "a whole number" : "a number"} ${openLow ? "above" : "from"} ${lo} to ${hi}`;
  if (text === "") {
    if (optional) return null;
    throw new FieldError(id, `${label} is empty or not a number: give ${range}`);
  }
  const x = Number(text);
  if (!Number.isFinite(x) || (integer && !Number.isInteger(x)) || (openLow ? x <= lo : x < lo) || x > hi) {
    throw new FieldError(id, `${label} ${text} is out of range: give ${range}`);
  }
  return x;
}
const meter = () => $("meter").value;
const stepsPerBar = () => (meter() === "3/4" ? 12 : 16);
const pickupSteps = () => Number($("pickup").value) || 0;
const noteName = (p) => NAMES[p % 12] + (Math.floor(p / 12) - 1);

// fetch, with a stopped server said in words (the browser's own message is "Failed to fetch")
async function request(path, options) {
  try { return await fetch(path, options); } catch (e) { throw new Error(NO_SERVER); }
}

async function api(path, options) {
  const r = await request(path, options);
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {  // the message is for the musician; the exception's type stays in the API's answer
    const err = new Error(body && body.error ? body.error.message : `the studio server answered HTTP ${r.status}`);
    err.type = body && body.error ? body.error.type : null;
    throw err;
  }
  return body;
}

// ------------------------------------------------------------------ sound
const audio = { ctx: null, synth: null, analyser: null, ready: null, peak: 0, timers: [], playing: null };

function initAudio() {
  if (audio.ready) return audio.ready;
  audio.ready = (async () => {
    const before = [$("status").textContent, $("status").classList.contains("error")];
    status("loading the synthesiser and the SoundFont…");
    const ctx = new AudioContext();
    await ctx.audioWorklet.addModule("/static/vendor/spessasynth_processor.min.js");
    const synth = new WorkletSynthesizer(ctx);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    synth.connect(analyser);
    analyser.connect(ctx.destination);
    const sf = await (await request("/soundfont.sf2")).arrayBuffer();
    await synth.soundBankManager.addSoundBank(sf, "main");
    await synth.isReady;
    if (ctx.state !== "running") await ctx.resume();
    Object.assign(audio, { ctx, synth, analyser });
    meterLoop();
    status(...before);
  })().catch((e) => { audio.ready = null; status("no sound: " + e.message, true); throw e; });
  return audio.ready;
}

function meterLoop() {  // keeps the highest output level seen since the last play (for the tests and the UI)
  const buf = new Float32Array(audio.analyser.fftSize);
  const tick = () => {
    audio.analyser.getFloatTimeDomainData(buf);
    let m = 0;
    for (let i = 0; i < buf.length; i++) m = Math.max(m, Math.abs(buf[i]));
    audio.peak = Math.max(audio.peak, m);
    setTimeout(tick, 50);
  };
  tick();
}

async function previewNote(pitch, channel = 0, program = null) {
  try { await initAudio(); } catch (e) { return; }
  const { synth, ctx } = audio;
  synth.programChange(channel, program ?? Number($("prog-0").value));
  synth.controllerChange(channel, 7, 110);
  synth.noteOn(channel, pitch, 90);
  synth.noteOff(channel, pitch, { time: ctx.currentTime + 0.35 });
}

// Plays tracks [{program, channel, notes:[{pitch, time, end_time, velocity}]}] from `from` seconds.
// Notes are handed to the synth a little ahead of time (a look-ahead scheduler).
async function playTracks(tracks, stepMap, onEnd) {
  await initAudio();
  stopPlayback();
  const { synth, ctx } = audio;
  const events = [];
  tracks.forEach((t, k) => {
    synth.programChange(t.channel, t.program);
    synth.controllerChange(t.channel, 7, audible(k) ? 110 : 0);
    for (const n of t.notes) events.push([n.time, n.end_time, t.channel, n.pitch, n.velocity]);
  });
  events.sort((a, b) => a[0] - b[0]);
  const duration = events.reduce((m, e) => Math.max(m, e[1]), 0);
  const t0 = ctx.currentTime + 0.15;
  let i = 0;
  audio.peak = 0;
  const play = { t0, duration, stepMap, onEnd };
  audio.playing = play;
  const schedule = () => {
    if (audio.playing !== play) return;
    const horizon = ctx.currentTime - t0 + 0.4;
    for (; i < events.length && events[i][0] < horizon; i++) {
      const [on, off, ch, p, v] = events[i];
      synth.noteOn(ch, p, v, { time: t0 + on });
      synth.noteOff(ch, p, { time: t0 + off });
    }
    if (ctx.currentTime - t0 > duration + 0.3) { stopPlayback(); return; }
    audio.timers.push(setTimeout(schedule, 100));
  };
  schedule();
  $("stop").disabled = false;
  requestAnimationFrame(drawCursor);
}

// Stops whatever plays (the result or the melody alone); the clock goes back to the start.
function stopPlayback() {
  audio.timers.forEach(clearTimeout);
  audio.timers = [];
  const was = audio.playing;
  audio.playing = null;
  if (audio.synth) audio.synth.stopAll(true);
  $("stop").disabled = true;
  $("clock").textContent = "0:00.0";
  if (was && was.onEnd) was.onEnd();
}

function playbackSeconds() {
  return audio.playing ? Math.max(0, audio.ctx.currentTime - audio.playing.t0) : 0;
}

// seconds -> step, interpolated between note boundaries (exact under tempo changes at note boundaries)
function makeStepMap(tracks) {
  const pts = [[0, 0]];
  for (const t of tracks) for (const n of t.notes) { pts.push([n.time, n.start]); pts.push([n.end_time, n.end]); }
  pts.sort((a, b) => a[0] - b[0]);
  return (sec) => {
    let lo = 0, hi = pts.length - 1;
    if (sec >= pts[hi][0]) return pts[hi][1];
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (pts[mid][0] <= sec) lo = mid; else hi = mid; }
    const [ta, sa] = pts[lo], [tb, sb] = pts[hi];
    return tb > ta ? sa + (sb - sa) * (sec - ta) / (tb - ta) : sa;
  };
}

function audible(k) {
  const anySolo = state.solo.some(Boolean);
  return anySolo ? state.solo[k] : !state.mute[k];
}

function applyMix() {
  if (!audio.synth || !state.result) return;
  state.result.tracks.forEach((t, k) => audio.synth.controllerChange(t.channel, 7, audible(k) ? 110 : 0));
}

// Renders the result's MIDI file (all voices, the file's own instruments) to a WAV file in the browser.
async function renderWav() {
  const res = state.result;
  if (!res) return;
  const btn = $("wav");
  btn.disabled = true;
  report("result", "rendering WAV…");
  try {
    const midi = Uint8Array.from(atob(res.midi_base64), (ch) => ch.charCodeAt(0)).buffer;
    const sf = await (await request("/soundfont.sf2")).arrayBuffer();
    const rate = 44100, seconds = res.duration + 2 + (res.tracks[0].notes[0] ? Math.max(0, res.tracks[0].notes[0].time) : 0);
    const offline = new OfflineAudioContext({ numberOfChannels: 2, sampleRate: rate, length: Math.ceil(rate * (seconds + 1)) });
    await offline.audioWorklet.addModule("/static/vendor/spessasynth_processor.min.js");
    const synth = new WorkletSynthesizer(offline);
    synth.connect(offline.destination);
    await synth.startOfflineRender({ midiSequence: BasicMIDI.fromArrayBuffer(midi, res.filename), loopCount: 0,
                                     soundBankList: [{ bankOffset: 0, soundBankBuffer: sf }] });
    const buffer = await offline.startRendering();
    normalise(buffer, WAV_PEAK_DBFS);
    const a = document.createElement("a");
    const url = URL.createObjectURL(audioBufferToWav(buffer, { normalizeAudio: false }));
    a.href = url; a.download = res.filename.replace(/\.mid$/, ".wav");
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    report("result", `WAV rendered: ${buffer.duration.toFixed(1)} s, ${buffer.sampleRate} Hz stereo, ` +
      `peak ${WAV_PEAK_DBFS} dBFS`);
  } catch (e) {
    report("result", "cannot render WAV: " + e.message, true);
  } finally {
    btn.disabled = false;
  }
}

// Scales the rendered audio so that its highest sample is at `dbfs` (the synthesiser's mix can pass full
// scale; the WAV writer's own normalisation would put the peak at exactly full scale).
function normalise(buffer, dbfs) {
  let peak = 0;
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const data = buffer.getChannelData(c);
    for (let i = 0; i < data.length; i++) peak = Math.max(peak, Math.abs(data[i]));
  }
  if (peak === 0) return;
  const gain = 10 ** (dbfs / 20) / peak;
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const data = buffer.getChannelData(c);
    for (let i = 0; i < data.length; i++) data[i] *= gain;
  }
}

// ------------------------------------------------------------------ editor piano roll
const editor = { canvas: null, lo: 48, hi: 84, drag: null, selected: -1 };

function editorRange() {
  let lo = 48, hi = 84;
  for (const n of state.notes) { lo = Math.min(lo, n.pitch - 2); hi = Math.max(hi, n.pitch + 2); }
  editor.lo = Math.max(0, lo); editor.hi = Math.min(127, hi);
}

function totalSteps() {
  const bars = Math.max(1, Number($("bars").value) || 1);
  return pickupSteps() + bars * stepsPerBar();
}

function ensureBars() {
  const played = rec.active ? Math.ceil(Math.max(0, recStep())) + 1 : 0;
  const end = state.notes.reduce((m, n) => Math.max(m, n.start + n.length), Math.max(state.cursor + 1, played));
  const bars = Math.min(512, Math.max(Number($("bars").value) || 1, Math.ceil((end - pickupSteps()) / stepsPerBar())));
  if (bars !== Number($("bars").value)) $("bars").value = bars;
}

function drawEditor() {
  ensureBars();
  editorRange();
  const c = editor.canvas, steps = totalSteps(), rows = editor.hi - editor.lo + 1;
  const cell = Math.max(4, Math.min(CELL, Math.floor(30000 / steps)));
  editor.cell = cell;
  c.width = LABEL_W + steps * cell; c.height = rows * ROW;
  const g = c.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height);
  for (let p = editor.lo; p <= editor.hi; p++) {
    const y = (editor.hi - p) * ROW;
    if ([1, 3, 6, 8, 10].includes(p % 12)) { g.fillStyle = "#f0f0f0"; g.fillRect(LABEL_W, y, c.width, ROW); }
    if (p % 12 === 0) { g.fillStyle = "#555"; g.font = "10px sans-serif"; g.fillText(noteName(p), 2, y + ROW - 2); }
  }
  drawGrid(g, steps, cell, c.height, pickupSteps(), stepsPerBar());
  state.notes.forEach((n, i) => {
    const x = LABEL_W + n.start * cell, y = (editor.hi - n.pitch) * ROW;
    g.fillStyle = i === editor.selected ? "#ff7f0e" : COLORS[0];
    g.fillRect(x + 1, y + 1, n.length * cell - 2, ROW - 2);
    g.fillStyle = "rgba(0,0,0,.35)"; g.fillRect(x + n.length * cell - 4, y + 1, 3, ROW - 2);
  });
  g.fillStyle = "rgba(11,110,79,.6)"; g.fillRect(LABEL_W + state.cursor * cell - 1, 0, 2, c.height);
  drawTake(g, cell);
  $("melody-info").textContent = `${state.notes.length} notes · ${$("bars").value} bars` +
    (state.file ? ` · from ${state.file.name}` : "");
}

function drawGrid(g, steps, cell, height, offset, bar) {
  for (let s = 0; s <= steps; s++) {
    const x = LABEL_W + s * cell + 0.5;
    const rel = s - offset;
    const isBar = rel >= 0 && rel % bar === 0;
    const isBeat = rel % 4 === 0;
    if (!isBar && !isBeat && cell < 8) continue;
    g.strokeStyle = isBar ? "#888" : isBeat ? "#ccc" : "#eee";
    g.beginPath(); g.moveTo(x, 0); g.lineTo(x, height); g.stroke();
  }
}

function editorHit(ev) {
  const r = editor.canvas.getBoundingClientRect();
  const x = ev.clientX - r.left, y = ev.clientY - r.top;
  const step = Math.floor((x - LABEL_W) / editor.cell), pitch = editor.hi - Math.floor(y / ROW);
  const idx = state.notes.findIndex((n) => n.pitch === pitch && step >= n.start && step < n.start + n.length);
  const edge = idx >= 0 && x > LABEL_W + (state.notes[idx].start + state.notes[idx].length) * editor.cell - 6;
  return { step, pitch, idx, edge };
}

function edited() {
  state.file = null;  // the editor now differs from the uploaded file: generate from the notes
  markInvalid("editor", false);
  drawEditor();
}

function setupEditor() {
  editor.canvas = $("editor");
  const c = editor.canvas;
  c.addEventListener("contextmenu", (ev) => ev.preventDefault());
  c.addEventListener("pointerdown", (ev) => {
    const h = editorHit(ev);
    if (h.step < 0) return;
    if (ev.button === 2 || ev.shiftKey) {  // delete
      if (h.idx >= 0) { record(); state.notes.splice(h.idx, 1); editor.selected = -1; edited(); }
      return;
    }
    if (h.idx < 0) {
      const len = Number($("note-length").value);
      record();
      state.notes.push({ pitch: h.pitch, start: h.step, length: len, velocity: 90 });
      state.notes.sort((a, b) => a.start - b.start || a.pitch - b.pitch);
      h.idx = state.notes.findIndex((n) => n.pitch === h.pitch && n.start === h.step);
      state.cursor = Math.max(state.cursor, h.step + len);
      previewNote(h.pitch);
      editor.drag = null;
      editor.selected = h.idx;
      edited();
      return;
    }
    const n = state.notes[h.idx];
    editor.selected = h.idx;
    editor.dragSnap = snapshot();  // recorded at the drop if the drag changed the note
    editor.drag = { idx: h.idx, mode: h.edge ? "len" : "move", step0: h.step, pitch0: h.pitch,
                    start: n.start, len: n.length, p: n.pitch };
    drawEditor();
  });
  window.addEventListener("pointermove", (ev) => {
    const d = editor.drag;
    if (!d) return;
    const h = editorHit(ev), n = state.notes[d.idx];
    if (d.mode === "len") n.length = Math.max(1, d.len + h.step - d.step0);
    else {
      n.start = Math.max(0, d.start + h.step - d.step0);
      n.pitch = Math.max(0, Math.min(127, d.p + h.pitch - d.pitch0));
    }
    edited();
  });
  window.addEventListener("pointerup", () => {
    if (editor.drag) {
      state.notes.sort((a, b) => a.start - b.start || a.pitch - b.pitch);
      editor.drag = null;
      if (JSON.stringify(state.notes) !== editor.dragSnap.notes) pushHistory(editor.dragSnap);
      edited();
    }
  });
}

// ------------------------------------------------------------------ keyboards
function enterNote(pitch) {
  const len = Number($("note-length").value);
  record();
  state.notes.push({ pitch, start: state.cursor, length: len, velocity: 90 });
  state.cursor += len;
  previewNote(pitch);
  edited();
}

function setupKeyboard() {
  const kb = $("keyboard");
  kb.replaceChildren();
  const base = 12 * (state.octave + 1);
  let white = 0;
  for (let i = 0; i < 25; i++) {
    const p = base + i, black = [1, 3, 6, 8, 10].includes(i % 12);
    const key = document.createElement("div");
    key.className = "key " + (black ? "black" : "white");
    key.dataset.pitch = p;
    key.title = noteName(p);
    if (black) key.style.left = (white * 34 - 11) + "px";
    else { key.style.left = (white * 34) + "px"; white++; }
    const lab = document.createElement("span");
    lab.textContent = (i < KEYMAP.length ? KEYMAP[i].toUpperCase() + " " : "") + (i % 12 === 0 ? noteName(p) : "");
    key.appendChild(lab);
    key.addEventListener("pointerdown", (ev) => { ev.preventDefault(); flash(p); keyDown(p); });
    key.addEventListener("pointerup", () => keyUp(p));
    key.addEventListener("pointerleave", () => keyUp(p));
    kb.appendChild(key);
  }
  $("octave").textContent = state.octave;
}

function flash(p) {
  const k = document.querySelector(`#keyboard .key[data-pitch="${p}"]`);
  if (k) { k.classList.add("down"); setTimeout(() => k.classList.remove("down"), 150); }
}

function setupComputerKeys() {
  document.addEventListener("keydown", (ev) => {
    const tag = (ev.target.tagName || "").toLowerCase();
    const k = ev.key.toLowerCase();
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && (k === "z" || k === "y") && !["input", "textarea"].includes(tag)) {
      ev.preventDefault();  // in a text field the browser's own undo applies
      if (k === "y" || ev.shiftKey) redo(); else undo();
      return;
    }
    if (["input", "select", "textarea"].includes(tag) || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const i = KEYMAP.indexOf(k);
    if (i >= 0) { ev.preventDefault(); const p = 12 * (state.octave + 1) + i; flash(p); keyDown(p, k); return; }
    if (rec.active) { if (k === "escape") stopRecording(); return; }  // step entry's keys wait for the end
    if (k === "z" || k === "x") { state.octave = Math.max(0, Math.min(8, state.octave + (k === "z" ? -1 : 1))); setupKeyboard(); return; }
    if (k === " ") { ev.preventDefault(); state.cursor += Number($("note-length").value); drawEditor(); return; }
    if (k === "backspace" || k === "delete") {
      ev.preventDefault();
      if (!state.notes.length) return;
      record();
      if (editor.selected >= 0 && k === "delete") { state.notes.splice(editor.selected, 1); editor.selected = -1; }
      else if (state.notes.length) {
        const last = state.notes.reduce((a, n, j) => (n.start >= state.notes[a].start ? j : a), 0);
        state.cursor = state.notes[last].start;
        state.notes.splice(last, 1);
      }
      edited();
    }
  });
}

function setupKeyUps() {
  document.addEventListener("keyup", (ev) => {
    const k = ev.key.toLowerCase(), p = rec.keys.get(k);
    if (p !== undefined) { rec.keys.delete(k); keyUp(p); }
  });
}

function setupWebMidi() {
  if (!navigator.requestMIDIAccess) return;
  navigator.requestMIDIAccess().then((access) => {
    const bind = () => {
      let n = 0;
      for (const input of access.inputs.values()) {
        n++;
        input.onmidimessage = (m) => {
          const [st, p, v] = m.data;
          if ((st & 0xf0) === 0x90 && v > 0) { flash(p); keyDown(p, null, v); }
          else if ((st & 0xf0) === 0x80 || (st & 0xf0) === 0x90) keyUp(p);
        };
      }
      $("midi-in").textContent = n ? `MIDI input: ${n} device(s) connected.` : "";
    };
    bind();
    access.onstatechange = bind;
  }).catch(() => {});
}


// ------------------------------------------------------------------ playing in time
// ● Record: a count-in of one bar (with a pickup, also the beats before it) on the metronome at the
// Tempo and Meter, then every key held (computer keys, on-screen keys, Web MIDI) is a note from its
// press to its release, quantised to the Quantise grid when the recording stops. The notes as played are
// kept (drawn as thin lines) until the next recording; changing Quantise re-quantises them (an undo step).
const rec = { active: null, clock: null, keys: new Map(), lastClicks: [] };
const QUANTISE_NAMES = { 1: "1/16", 2: "1/8", 4: "1/4" };
const LOOKAHEAD_S = 0.25;

// the recording's clock in seconds: the audio clock the metronome clicks on (tests set their own)
function now() { return rec.clock ? rec.clock() : rec.active ? rec.active.ctx.currentTime : performance.now() / 1000; }

async function clickContext() {
  try { await initAudio(); return audio.ctx; } catch (e) {  // no SoundFont: the clicks still sound
    audio.clickCtx = audio.clickCtx || new AudioContext();
    return audio.clickCtx;
  }
}

function click(ctx, at, accent) {
  if (!$("metronome").checked) return;
  const osc = ctx.createOscillator(), gain = ctx.createGain();
  osc.frequency.value = accent ? 1760 : 1175;
  gain.gain.setValueAtTime(0.0001, at);
  gain.gain.exponentialRampToValueAtTime(accent ? 0.5 : 0.3, at + 0.002);
  gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.05);
  osc.connect(gain).connect(ctx.destination);
  osc.start(at); osc.stop(at + 0.06);
}

async function startRecording() {
  if (rec.active) { stopRecording(); return; }
  clearInvalid();
  let tempo;
  try { tempo = readField("tempo", "Tempo", 20, 300); } catch (e) { markInvalid(e.field); report("melody", e.message, true); return; }
  stopPlayback();
  const ctx = await clickContext();
  if (ctx.state !== "running") await ctx.resume();
  const secPerStep = 60 / tempo / 4, bar = stepsPerBar(), pickup = pickupSteps();
  const countSteps = bar + (pickup ? bar - pickup : 0), lead = 0.1;
  const r = { ctx, secPerStep, bar, pickup, countSteps, raw: [], open: new Map(), clicks: [], tempo,
              beat: -countSteps / 4, timer: null };
  r.c0 = ctx.currentTime + lead + countSteps * secPerStep;  // the audio time of the editor's step 0
  rec.active = r;
  r.t0 = (rec.clock ? rec.clock() : ctx.currentTime) + lead + countSteps * secPerStep;  // the clock's
  $("record").textContent = "■ Stop recording";
  $("record").classList.add("on");
  clearMessage("melody");
  const tick = () => {
    if (rec.active !== r) return;
    // the whole count-in at once, then each beat a little ahead of time
    for (; r.beat < 0 || r.c0 + r.beat * 4 * secPerStep < ctx.currentTime + LOOKAHEAD_S; r.beat++) {
      const step = r.beat * 4, accent = (((step - pickup) % bar) + bar) % bar === 0;
      click(ctx, r.c0 + step * secPerStep, accent);
      r.clicks.push([r.c0 + step * secPerStep, accent]);
    }
    const at = (now() - r.t0) / secPerStep;
    $("rec-info").textContent = at < 0 ? `count-in: ${Math.ceil(-at / 4)}…`
      : `recording · bar ${Math.floor((at - pickup) / bar) + 1} · Esc or ■ stops`;
    drawEditor();
    r.timer = setTimeout(tick, 40);
  };
  tick();
}

function recStep() { return (now() - rec.active.t0) / rec.active.secPerStep; }

// a key pressed: a note from now while recording, else step entry at the cursor
function keyDown(pitch, key = null, velocity = 90) {
  if (!rec.active) { enterNote(pitch); return; }
  if (key) rec.keys.set(key, pitch);
  if (rec.active.open.has(pitch) || rec.active.raw.length >= (state.info ? state.info.limits.max_notes : 8192)) return;
  rec.active.open.set(pitch, { pitch, start: recStep(), velocity });
  soundOn(pitch);
}

function keyUp(pitch) {
  const r = rec.active;
  soundOff(pitch);
  if (!r || !r.open.has(pitch)) return;
  const n = r.open.get(pitch);
  r.open.delete(pitch);
  r.raw.push({ ...n, end: Math.max(n.start, recStep()) });
}

function soundOn(pitch) {
  if (!audio.synth) return;
  audio.synth.programChange(0, Number($("prog-0").value));
  audio.synth.controllerChange(0, 7, 110);
  audio.synth.noteOn(0, pitch, 90);
}
function soundOff(pitch) { if (audio.synth) audio.synth.noteOff(0, pitch); }

// The notes as played put on the grid of `q` steps: each start and end to the nearest grid line (a note
// at least one grid unit long); notes that start before step 0 once quantised (the count-in) are dropped.
function quantise(raw, q) {
  const seen = new Set(), out = [];
  for (const n of [...raw].sort((a, b) => a.start - b.start)) {
    const start = Math.round(n.start / q) * q;
    if (start < 0 || seen.has(`${n.pitch}:${start}`)) continue;
    seen.add(`${n.pitch}:${start}`);
    const end = Math.max(start + q, Math.round(n.end / q) * q);
    out.push({ pitch: n.pitch, start, length: Math.min(end - start, 256), velocity: n.velocity });
  }
  return out.sort((a, b) => a.start - b.start || a.pitch - b.pitch);
}

function stopRecording() {
  const r = rec.active;
  if (!r) return;
  for (const p of [...r.open.keys()]) keyUp(p);
  clearTimeout(r.timer);
  rec.active = null;
  rec.lastClicks = r.clicks;
  rec.keys.clear();
  $("record").textContent = "● Record";
  $("record").classList.remove("on");
  $("rec-info").textContent = "";
  const grid = Number($("quantise").value), notes = quantise(r.raw, grid);
  if (!notes.length) { drawEditor(); report("melody", "nothing was recorded: hold the keys after the count-in", true); return; }
  record();
  state.notes = notes;
  state.take = { raw: r.raw, grid, notesJson: JSON.stringify(notes) };
  state.cursor = notes.reduce((m, n) => Math.max(m, n.start + n.length), 0);
  editor.selected = -1;
  edited();
  report("melody", `recorded ${notes.length} notes at ${r.tempo} bpm, quantised to ${QUANTISE_NAMES[grid]} ` +
    "(thin lines: as played; Quantise re-quantises them, Undo steps back)");
}

// Quantise changed: the last recording, while the editor still holds it, is put on the new grid (an undo step).
function requantise() {
  const grid = Number($("quantise").value), take = state.take;
  if (!take || JSON.stringify(state.notes) !== take.notesJson || take.grid === grid) return;
  record();
  state.notes = quantise(take.raw, grid);
  state.take = { raw: take.raw, grid, notesJson: JSON.stringify(state.notes) };
  edited();
  report("melody", `the recording quantised to ${QUANTISE_NAMES[grid]} (Undo goes back to ${QUANTISE_NAMES[take.grid]})`);
}

// The notes as played over the quantised ones: a thin line from each played start to its end.
function drawTake(g, cell) {
  const r = rec.active, shown = state.take && JSON.stringify(state.notes) === state.take.notesJson;
  const raw = r ? [...r.raw, ...[...r.open.values()].map((n) => ({ ...n, end: recStep() }))] : shown ? state.take.raw : [];
  g.fillStyle = "#222";
  for (const n of raw) {
    const x = LABEL_W + n.start * cell, y = (editor.hi - n.pitch) * ROW + ROW / 2 - 1;
    g.fillRect(x, y, Math.max(2, (n.end - n.start) * cell), 2);
  }
  if (r) { g.fillStyle = "#c62828"; g.fillRect(LABEL_W + Math.max(0, recStep()) * cell - 1, 0, 2, editor.canvas.height); }
}

// ------------------------------------------------------------------ upload
async function upload(file) {
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    status(`reading ${file.name}…`);
    const m = await api("/api/melody?model=" + encodeURIComponent(state.model), { method: "POST", headers: { "Content-Type": "audio/midi" }, body: bytes });
    markInvalid("tempo", false);
    record();
    $("tempo").value = Math.round(m.tempo);
    $("meter").value = m.meter;
    fillPickup();
    $("pickup").value = "0";
    $("prog-0").value = String(m.melody_program);
    state.notes = m.notes;
    state.cursor = m.notes.reduce((mx, n) => Math.max(mx, n.start + n.length), 0);
    $("bars").value = 1;
    state.file = { bytes, name: file.name };
    editor.selected = -1;
    drawEditor();
    report("melody", `${file.name}: ${m.notes.length} melody notes (track ${m.melody_track})` +
      (m.tempo_changes > 1 ? `; ${m.tempo_changes} tempo changes are kept while the notes are unedited` : ""));
  } catch (e) {
    report("melody", e.message.replace(/^the uploaded file/, file.name), true);
  }
}

// ------------------------------------------------------------------ generation
// null: the model's own programs; a preset name; or one program per accompaniment track (a drum track's is ignored)
function programsParam() {
  const preset = $("preset").value;
  if (preset === "model") return null;
  if (preset !== "custom") return preset;
  return state.info.layout.tracks.slice(1).map((t, i) => (t.drums ? 0 : Number($(`prog-${i + 1}`).value)));
}

// The request's fields, checked here as the server checks them (a FieldError names the input).
function generationFields() {
  if (!state.notes.length) throw new FieldError("editor", EMPTY_MELODY);
  return {
    seed: readField("seed", "Seed", 0, 4294967295, { integer: true, optional: true }),
    noise: readField("noise", "Noise scale", 0, 1000, { optional: true, openLow: true }),
    tempo: state.file ? null : readField("tempo", "Tempo", 20, 300),
  };
}

async function generate(newTake = false) {
  clearInvalid();
  clearMessage("generate");
  if (newTake) $("seed").value = Math.floor(Math.random() * 4294967295);
  const programs = programsParam();
  $("generate").disabled = $("new-take").disabled = true;
  report("generate", "generating…");
  const t = performance.now();
  try {
    const { seed, noise, tempo } = generationFields();
    let res, melodyFields;
    if (state.file) {
      melodyFields = { melody_midi_base64: toBase64(state.file.bytes) };
      const q = new URLSearchParams();
      if (programs !== null) q.set("programs", Array.isArray(programs) ? programs.join(",") : programs);
      if (seed !== null) q.set("seed", seed);
      if (noise !== null) q.set("noise_scale", noise);
      q.set("model", state.model);
      res = await api("/api/generate/midi?" + q, { method: "POST", headers: { "Content-Type": "audio/midi" },
                                                   body: state.file.bytes });
    } else {
      melodyFields = { notes: state.notes.map((n) => ({ ...n })), tempo, meter: meter(),
                       pickup_steps: pickupSteps(), melody_program: Number($("prog-0").value) };
      const body = { ...melodyFields, seed, programs, noise_scale: noise, model: state.model };
      res = await api("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
                                         body: JSON.stringify(body) });
    }
    record();
    state.lastRequest = melodyFields;
    applyResult(JSON.stringify(res));
    $("seed").value = res.seed;
    report("generate", `generated in ${((performance.now() - t) / 1000).toFixed(1)} s · seed ${res.seed}`);
    $("result-panel").scrollIntoView({ block: "start" });
  } catch (e) {
    if (state.result) record();  // undo brings the take back
    clearResult("no result: the generation failed (see Accompaniment above)");
    markInvalid(e.field || fieldOf(e.message));
    report("generate", e.message, true);
  } finally {
    $("generate").disabled = $("new-take").disabled = false;
  }
}

// Removes the shown result (after a failed generation, so that an old take is not taken for the new one).
function clearResult(why) {
  stopPlayback();
  state.result = state.resultRaw = null;
  $("regenerate").disabled = true;
  const a = $("download");
  if (a.dataset.url) { URL.revokeObjectURL(a.dataset.url); delete a.dataset.url; }
  a.removeAttribute("href");
  a.classList.add("disabled");
  $("play").disabled = $("wav").disabled = true;
  $("mixer").replaceChildren();
  $("result-info").textContent = "";
  const c = result.canvas;
  c.width = 800; c.height = 40;
  if (why) report("result", why, true); else clearMessage("result");
}

// Shows a take from the JSON text the server sent; the melody's sound follows the page's choice (the file
// keeps the melody's own program).
function applyResult(raw) {
  const res = JSON.parse(raw);
  res.tracks[0].program = Number($("prog-0").value);
  state.resultRaw = raw;
  showResult(res);
  $("regenerate").disabled = !state.lastRequest;
}

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

// The selected bars of the checked tracks drawn again (a new seed), every other note kept: the request
// sends the take's MIDI back with the melody that made it.
async function regenerate() {
  const res = state.result, melody = state.lastRequest;
  if (!res || !melody) return;
  clearInvalid();
  let first, last;
  try {
    first = readField("regen-from", "The first bar", 0, 512, { integer: true });
    last = readField("regen-to", "The last bar", 0, 512, { integer: true });
    if (first > last) throw new FieldError("regen-to", `the last bar (${last}) comes before the first (${first})`);
  } catch (e) { markInvalid(e.field); report("result", e.message, true); return; }
  const tracks = [...document.querySelectorAll("#regen-tracks input:checked")].map((box) => box.value);
  if (!tracks.length) { report("result", "check at least one track to regenerate", true); return; }
  // the take's own model (and its instruments, unless that model is still the chosen one)
  const programs = res.model === state.model ? programsParam() : res.programs;
  const body = { ...melody, seed: Math.floor(Math.random() * 4294967296), programs, model: res.model,
                 noise_scale: res.noise_scale, keep_midi_base64: res.midi_base64,
                 regenerate: { bars: [first, last], tracks } };
  $("regenerate").disabled = true;
  report("result", `regenerating bars ${first}-${last} of ${tracks.join(", ")}…`);
  try {
    const out = await api("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify(body) });
    record();
    applyResult(JSON.stringify(out));
    report("result", `regenerated bars ${first}-${last} of ${tracks.join(", ")} · seed ${out.seed}; ` +
      "the other notes are kept (Undo brings the previous take back)");
  } catch (e) {
    if (/bar/.test(e.message)) markInvalid("regen-from");
    report("result", e.message, true);
  } finally {
    $("regenerate").disabled = !state.result;
  }
}


// ------------------------------------------------------------------ editing the accompaniment
// The result roll edits the accompaniment as the editor edits the melody: a click on an empty cell adds a
// note of the Note length to the Edit track, a drag moves a note (in time and pitch), a drag of its right
// edge lengthens it, right-click or Shift+click deletes it. Each edit is written by the server
// (POST /api/edit) into the take's MIDI file, which is then what plays, downloads, and is kept by
// Regenerate selection; each is an undo step.
function resultHit(ev) {
  const r = result.canvas.getBoundingClientRect();
  const x = ev.clientX - r.left, y = ev.clientY - r.top;
  const step = Math.floor((x - LABEL_W) / result.cell), pitch = result.hi - Math.floor(y / result.row);
  const tracks = state.result.tracks, chosen = tracks.findIndex((t, k) => k > 0 && t.name === $("edit-track").value);
  const order = [chosen, ...tracks.map((t, k) => k).filter((k) => k > 0 && k !== chosen)];
  for (const k of order) {
    if (k < 1 || (!audible(k))) continue;
    const i = tracks[k].notes.findIndex((n) => n.pitch === pitch && step >= Math.floor(n.start) && step < Math.ceil(n.end));
    if (i >= 0) {
      const n = tracks[k].notes[i];
      return { step, pitch, track: k, idx: i, edge: x > LABEL_W + n.end * result.cell - 4 && n.end - n.start > 1 };
    }
  }
  return { step, pitch, track: chosen, idx: -1, edge: false };
}

function setupResultEditing() {
  const c = result.canvas;
  c.addEventListener("contextmenu", (ev) => ev.preventDefault());
  c.addEventListener("pointerdown", (ev) => {
    if (!state.result || result.busy || audio.playing) return;
    const h = resultHit(ev);
    if (h.step < 0 || h.track < 1) return;
    const notes = state.result.tracks[h.track].notes;
    if (ev.button === 2 || ev.shiftKey) {
      if (h.idx >= 0) { notes.splice(h.idx, 1); commitEdit(state.result.tracks[h.track].name, "deleted a note"); }
      return;
    }
    if (h.idx < 0) {
      const t = state.result.tracks[h.track], len = t.drums ? 1 : Number($("note-length").value);
      notes.push({ pitch: h.pitch, start: h.step, end: h.step + len, velocity: t.notes[0] ? t.notes[0].velocity : 80 });
      commitEdit(t.name, "added a note");
      return;
    }
    const n = notes[h.idx];
    result.drag = { track: h.track, note: n, mode: h.edge ? "len" : "move", step0: h.step, pitch0: h.pitch,
                    start: n.start, end: n.end, pitch: n.pitch };
  });
  window.addEventListener("pointermove", (ev) => {
    const d = result.drag;
    if (!d) return;
    const h = resultHit(ev), n = d.note;
    if (d.mode === "len") n.end = Math.max(n.start + 1, d.end + h.step - d.step0);
    else {
      const dt = Math.max(-d.start, h.step - d.step0);
      n.start = d.start + dt; n.end = d.end + dt;
      n.pitch = Math.max(0, Math.min(127, d.pitch + h.pitch - d.pitch0));
    }
    drawResult();
  });
  window.addEventListener("pointerup", () => {
    const d = result.drag;
    if (!d) return;
    result.drag = null;
    const n = d.note;
    if (n.start !== d.start || n.end !== d.end || n.pitch !== d.pitch) {
      commitEdit(state.result.tracks[d.track].name, d.mode === "len" ? "lengthened a note" : "moved a note");
    } else drawResult();
  });
}

// Sends the edited accompaniment (every track, in the take's own steps) with the take it was made from;
// the answer is the new take (an undo step). A refusal puts the take back as it was.
async function commitEdit(track, what) {
  const res = state.result, before = state.resultRaw;
  drawResult();
  result.busy = true;
  const accompaniment = res.tracks.slice(1).map((t) => ({ name: t.name, notes: t.notes.map((n) => ({
    pitch: n.pitch, start: Math.round(n.start - res.shift), length: Math.max(1, Math.round(n.end - n.start)),
    velocity: n.velocity })) }));
  try {
    const out = await api("/api/edit", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...state.lastRequest, model: res.model, seed: res.seed,
                             keep_midi_base64: JSON.parse(before).midi_base64, accompaniment }) });
    Object.assign(out, { programs: res.programs, noise_scale: res.noise_scale });  // the take's, for Regenerate
    const snap = snapshot();
    snap.result = before;
    pushHistory(snap);
    applyResult(JSON.stringify(out));
    report("result", `${track}: ${what} (Undo steps back; Regenerate selection keeps it)`);
  } catch (e) {
    applyResult(before);
    report("result", "the edit was not taken: " + e.message, true);
  } finally {
    result.busy = false;
  }
}

// ------------------------------------------------------------------ undo / redo
function snapshot() {
  return { notes: JSON.stringify(state.notes), bars: $("bars").value, file: state.file, cursor: state.cursor,
           result: state.resultRaw, request: state.lastRequest, take: state.take };
}

function pushHistory(snap) {
  state.history.push(snap);
  if (state.history.length > HISTORY_LIMIT) state.history.shift();
  state.future = [];
  updateUndo();
}

// Called before each change: the melody's notes, an upload, a take, a regeneration.
function record() { pushHistory(snapshot()); }

function restore(snap) {
  state.notes = JSON.parse(snap.notes);
  $("bars").value = snap.bars;
  state.file = snap.file;
  state.cursor = snap.cursor;
  state.take = snap.take;
  editor.selected = -1; editor.drag = null;
  drawEditor();
  state.lastRequest = snap.request;
  if (snap.result) { if (snap.result !== state.resultRaw) applyResult(snap.result); } else if (state.result) clearResult(null);
}

function undo() {
  if (!state.history.length) return;
  state.future.push(snapshot());
  restore(state.history.pop());
  updateUndo();
}

function redo() {
  if (!state.future.length) return;
  state.history.push(snapshot());
  restore(state.future.pop());
  updateUndo();
}

function updateUndo() {
  $("undo").disabled = !state.history.length;
  $("redo").disabled = !state.future.length;
}

function showResult(res) {
  stopPlayback();
  // Before a pickup the model may write accompaniment in the (otherwise empty) first bar: those
  // notes come at negative steps and times. Draw and play from the earliest note then.
  let first = 0, firstTime = 0;
  for (const t of res.tracks) for (const n of t.notes) {
    if (n.start < first) { first = n.start; firstTime = n.time; }
  }
  const shift = -Math.floor(first), shiftTime = first < 0 ? shift * (firstTime / first) : 0;  // s per step * steps
  if (shift > 0) {
    for (const t of res.tracks) for (const n of t.notes) {
      n.start += shift; n.end += shift; n.time += shiftTime; n.end_time += shiftTime;
    }
  }
  const bar = res.steps_per_bar;
  res.bar_offset = (((res.pickup_steps + shift) % bar) + bar) % bar;
  res.shift = shift;  // steps the notes were moved by for drawing (an edit sends them back unmoved)
  state.result = res;
  state.stepMap = makeStepMap(res.tracks);
  const bytes = Uint8Array.from(atob(res.midi_base64), (ch) => ch.charCodeAt(0));
  const a = $("download");
  if (a.dataset.url) URL.revokeObjectURL(a.dataset.url);
  a.dataset.url = a.href = URL.createObjectURL(new Blob([bytes], { type: "audio/midi" }));
  a.download = res.filename;
  a.classList.remove("disabled");
  $("play").disabled = $("wav").disabled = false;
  clearMessage("result");
  $("result-info").textContent = `${res.model} · ${res.meter} · ${res.tempo} bpm · ${res.duration.toFixed(1)} s · ` +
    res.tracks.map((t) => `${t.name} ${t.notes.length}`).join(", ");
  buildMixer();
  buildRegenTracks(res);
  drawResult();
}

// One check box per accompaniment track of the shown take (its model's layout), checked as before.
function buildRegenTracks(res) {
  const box = $("regen-tracks");
  const was = Object.fromEntries([...box.querySelectorAll("input")].map((c) => [c.value, c.checked]));
  box.replaceChildren();
  res.tracks.slice(1).forEach((t, i) => {
    const pick = document.createElement("label");
    pick.style.setProperty("--c", colorOf(i + 1));
    const check = document.createElement("input");
    check.type = "checkbox"; check.value = t.name; check.checked = was[t.name] ?? true; check.id = `regen-${t.name}`;
    pick.append(check, " " + t.name);
    box.appendChild(pick);
  });
  const sel = $("edit-track"), chosen = sel.value;
  sel.replaceChildren();
  res.tracks.slice(1).forEach((t) => {
    const o = document.createElement("option"); o.value = o.textContent = t.name; sel.appendChild(o);
  });
  if (res.tracks.some((t, k) => k > 0 && t.name === chosen)) sel.value = chosen;
}

function buildMixer() {
  const m = $("mixer"), n = state.result.tracks.length;
  if (state.mute.length !== n) { state.mute = new Array(n).fill(false); state.solo = new Array(n).fill(false); }
  m.replaceChildren();
  state.result.tracks.forEach((t, k) => {
    const v = document.createElement("span");
    v.className = "voice"; v.dataset.voice = t.name;
    v.style.setProperty("--c", colorOf(k));
    const name = document.createElement("span");
    const gm = t.drums ? "drum kit" : state.info ? state.info.gm_programs[t.program] : t.program;
    name.textContent = `${t.name} (${gm})`;
    const mute = document.createElement("button"), solo = document.createElement("button");
    mute.textContent = "M"; mute.title = "mute"; mute.className = "mute" + (state.mute[k] ? " on" : "");
    solo.textContent = "S"; solo.title = "solo"; solo.className = "solo" + (state.solo[k] ? " on" : "");
    mute.onclick = () => { state.mute[k] = !state.mute[k]; mute.classList.toggle("on", state.mute[k]); applyMix(); drawResult(); };
    solo.onclick = () => { state.solo[k] = !state.solo[k]; solo.classList.toggle("on", state.solo[k]); applyMix(); drawResult(); };
    v.append(name, mute, solo);
    m.appendChild(v);
  });
}

const result = { canvas: null, lo: 0, hi: 127, cell: CELL, steps: 0, drag: null, busy: false };

function drawResult(cursorStep = null) {
  const res = state.result;
  if (!res) return;
  const c = result.canvas;
  let lo = 127, hi = 0, end = 0;
  for (const t of res.tracks) for (const n of t.notes) { lo = Math.min(lo, n.pitch); hi = Math.max(hi, n.pitch); end = Math.max(end, n.end); }
  if (!result.drag) {  // the frame stays put while a note is dragged
    result.lo = Math.max(0, lo - 4); result.hi = Math.min(127, hi + 4);
    result.steps = Math.ceil(end) + 1;
  }
  const steps = result.steps, rows = result.hi - result.lo + 1, row = 8;
  const cell = Math.max(2, Math.min(10, Math.floor(30000 / steps)));
  Object.assign(result, { cell, row });
  if (c.width !== LABEL_W + steps * cell || c.height !== rows * row) { c.width = LABEL_W + steps * cell; c.height = rows * row; }
  const g = c.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height);
  for (let p = result.lo; p <= result.hi; p++) {
    const y = (result.hi - p) * row;
    if ([1, 3, 6, 8, 10].includes(p % 12)) { g.fillStyle = "#f4f4f4"; g.fillRect(LABEL_W, y, c.width, row); }
    if (p % 12 === 0) { g.fillStyle = "#555"; g.font = "10px sans-serif"; g.fillText(noteName(p), 2, y + row); }
  }
  drawGrid(g, steps, cell, c.height, res.bar_offset, res.steps_per_bar);
  // accompaniment first (the last track at the bottom), melody on top and outlined (highlighted)
  res.tracks.map((t, k) => k).reverse().forEach((k) => {
    const t = res.tracks[k];
    g.globalAlpha = audible(k) ? 1 : 0.25;
    for (const n of t.notes) {
      const x = LABEL_W + n.start * cell, y = (result.hi - n.pitch) * row, w = Math.max(2, (n.end - n.start) * cell);
      g.fillStyle = colorOf(k);
      g.fillRect(x, y + 1, w - 1, row - 1);
      if (k === 0) { g.strokeStyle = "#000"; g.lineWidth = 1.5; g.strokeRect(x + 0.5, y + 0.5, w - 1.5, row - 0.5); }
    }
  });
  g.globalAlpha = 1;
  if (cursorStep !== null) {
    g.fillStyle = "#000"; g.fillRect(LABEL_W + cursorStep * cell - 1, 0, 2, c.height);
  }
}

function drawCursor() {
  if (!audio.playing) return;
  const sec = playbackSeconds();
  const map = audio.playing.stepMap;
  const step = map(sec);
  $("clock").textContent = `${Math.floor(sec / 60)}:${(sec % 60).toFixed(1).padStart(4, "0")}`;
  if (audio.playing.target === "result") {
    drawResult(step);
    const wrap = $("result-wrap"), x = LABEL_W + step * result.cell;
    if (x > wrap.scrollLeft + wrap.clientWidth - 40 || x < wrap.scrollLeft) wrap.scrollLeft = x - 40;
  } else {
    drawEditor();
    const g = editor.canvas.getContext("2d");
    g.fillStyle = "#000"; g.fillRect(LABEL_W + step * editor.cell - 1, 0, 2, editor.canvas.height);
  }
  requestAnimationFrame(drawCursor);
}

async function playResult() {
  const res = state.result;
  if (!res) return;
  try {
    await playTracks(res.tracks, state.stepMap, () => { $("play").disabled = !state.result; drawResult(); });
    audio.playing.target = "result";
    $("play").disabled = true;
  } catch (e) { report("result", "cannot play: " + e.message, true); }
}

// ▶ Melody plays the editor's melody alone; pressed again while it plays (or Stop), it stops.
async function playMelody() {
  if (audio.playing && audio.playing.target === "editor") { stopPlayback(); return; }
  clearInvalid();
  if (!state.notes.length) { markInvalid("editor"); report("melody", EMPTY_MELODY, true); return; }
  let tempo;
  try { tempo = readField("tempo", "Tempo", 20, 300); } catch (e) {
    markInvalid(e.field); report("melody", e.message, true); return;
  }
  clearMessage("melody");
  const spb = 60 / tempo / 4;
  const tracks = [{ program: Number($("prog-0").value), channel: 0,
    notes: state.notes.map((n) => ({ pitch: n.pitch, start: n.start, end: n.start + n.length,
      time: n.start * spb, end_time: (n.start + n.length) * spb, velocity: n.velocity || 90 })) }];
  try {
    await playTracks(tracks, (s) => s / spb, () => { $("play-melody").textContent = "▶ Melody"; drawEditor(); });
    audio.playing.target = "editor";
    $("play-melody").textContent = "■ Melody";
  } catch (e) { report("melody", "cannot play: " + e.message, true); }
}

// ------------------------------------------------------------------ set-up
function fillPickup() {
  const beats = stepsPerBar() / 4, sel = $("pickup"), old = sel.value;
  sel.replaceChildren();
  for (let b = 0; b < beats; b++) {
    const o = document.createElement("option");
    o.value = String(b * 4); o.textContent = b === 0 ? "none" : `${b} beat${b > 1 ? "s" : ""}`;
    sel.appendChild(o);
  }
  sel.value = old !== "" && Number(old) < beats * 4 ? old : "0";  // on load the box has no value yet
}

// One instrument choice per track of the model's layout: the melody, then each accompaniment track
// (the drum track shows as the drum kit, played on MIDI channel 10, without a program to choose).
function buildTracks(info) {
  const box = $("voices"), tracks = info.layout.tracks;
  while (box.children.length > 1) box.lastElementChild.remove();
  box.firstElementChild.style.setProperty("--c", colorOf(0));
  tracks.forEach((t, k) => {
    if (k === 0) return;
    const label = document.createElement("label");
    label.dataset.track = t.name;
    label.style.setProperty("--c", colorOf(k));
    label.append(t.name.charAt(0).toUpperCase() + t.name.slice(1) + " ");
    if (t.drums) {
      const kit = document.createElement("span");
      kit.className = "drum-kit"; kit.textContent = "drum kit (channel 10)";
      label.appendChild(kit);
    } else {
      const sel = document.createElement("select");
      sel.id = `prog-${k}`; sel.className = "prog";
      label.appendChild(sel);
    }
    box.appendChild(label);
  });
  const names = tracks.slice(1).map((t) => t.name).join(", ");
  $("model-info").textContent = `Model ${info.model}, layout ${info.layout.name}: ` +
    `${tracks[0].name} (the melody) + ${names}.`;
}

// The presets of the chosen model: its own programs, the library's presets for a voice layout, custom.
const presets = { current: {} };
function applyPreset() {
  const p = presets.current[$("preset").value];
  // the accompaniment's instruments; the melody keeps its own (the downloaded file does too)
  if (p) p.forEach((prog, k) => { if (k > 0 && $(`prog-${k}`)) $(`prog-${k}`).value = String(prog); });
}

function fillPrograms(info) {
  buildTracks(info);
  const preset = $("preset"), tracks = info.layout.tracks;
  presets.current = { model: tracks.map((t) => t.program), ...info.presets };
  preset.replaceChildren();
  for (const name of Object.keys(presets.current)) {
    const o = document.createElement("option"); o.value = name;
    o.textContent = name === "model" ? "the model's own" : name;
    preset.appendChild(o);
  }
  const custom = document.createElement("option"); custom.value = "custom"; custom.textContent = "custom (below)";
  preset.appendChild(custom);
  document.querySelectorAll("#voices select.prog").forEach((sel) => {
    if (sel.options.length) return;  // the melody's select is filled once
    info.gm_programs.forEach((name, p) => {
      const o = document.createElement("option"); o.value = String(p); o.textContent = `${p} ${name}`; sel.appendChild(o);
    });
    sel.addEventListener("change", () => { if (sel.id !== "prog-0") preset.value = "custom"; });
  });
  preset.value = "model";
  applyPreset();
}

// The style picker: the models of GET /api/models; choosing one shows its tracks, instruments and presets
// and the next Generate uses it (a shown take keeps its own model for Regenerate selection).
async function chooseModel(name) {
  const sel = $("model");
  sel.disabled = true;
  try {
    const info = await api("/api/info?model=" + encodeURIComponent(name));
    state.info = info;
    state.model = info.model;
    sel.value = info.model;
    fillPrograms(info);
    $("noise").placeholder = `model's: ${info.noise_scale}`;
    markInvalid("model", false);
    return info;
  } catch (e) {
    sel.value = state.model || "";
    markInvalid("model");
    report("generate", e.message, true);
    return null;
  } finally {
    sel.disabled = false;
  }
}

async function loadModels() {
  const list = await api("/api/models"), sel = $("model");
  sel.replaceChildren();
  for (const m of list.models) {
    const o = document.createElement("option");
    o.value = m.name; o.textContent = m.name + (m.shipped ? "" : " (--model)");
    sel.appendChild(o);
  }
  sel.addEventListener("change", () => chooseModel(sel.value));
  return list.default;
}

async function main() {
  setupEditor();
  result.canvas = $("result");
  setupResultEditing();
  setupKeyboard();
  setupComputerKeys();
  setupKeyUps();
  setupWebMidi();
  fillPickup();
  $("meter").addEventListener("change", () => { fillPickup(); edited(); });
  $("pickup").addEventListener("change", edited);
  $("tempo").addEventListener("change", edited);
  for (const id of ["tempo", "seed", "noise", "preset", "pickup", "model"]) {
    $(id).addEventListener("input", () => markInvalid(id, false));
  }
  $("bars").addEventListener("change", drawEditor);
  $("clear").addEventListener("click", () => { record(); state.notes = []; state.cursor = 0; $("bars").value = 4; edited(); });
  $("upload").addEventListener("change", (ev) => { if (ev.target.files[0]) upload(ev.target.files[0]); ev.target.value = ""; });
  $("oct-down").addEventListener("click", () => { state.octave = Math.max(0, state.octave - 1); setupKeyboard(); });
  $("oct-up").addEventListener("click", () => { state.octave = Math.min(8, state.octave + 1); setupKeyboard(); });
  $("generate").addEventListener("click", () => generate(false));
  $("new-take").addEventListener("click", () => generate(true));
  $("play").addEventListener("click", playResult);
  $("stop").addEventListener("click", stopPlayback);
  $("wav").addEventListener("click", renderWav);
  $("play-melody").addEventListener("click", playMelody);
  $("regenerate").addEventListener("click", regenerate);
  $("record").addEventListener("click", startRecording);
  $("quantise").addEventListener("change", requantise);
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  drawEditor();
  $("preset").addEventListener("change", applyPreset);
  try {
    const info = await chooseModel(await loadModels());
    $("prog-0").value = "0";
    status(info.soundfont ? "ready" : "ready (no SoundFont installed: no sound)");
  } catch (e) {
    status("cannot reach the studio server: " + e.message, true);
  }
  document.body.dataset.ready = "1";
}

// for people and tests: the page's state and the sound engine's clock and level
window.studio = {
  state,
  audioStats: () => ({ contextState: audio.ctx ? audio.ctx.state : null, contextTime: audio.ctx ? audio.ctx.currentTime : 0,
                       playing: !!audio.playing, position: playbackSeconds(), peak: audio.peak }),
  busy: () => result.busy,
  resultGeometry: () => ({ labelWidth: LABEL_W, cell: result.cell, row: result.row, highestPitch: result.hi }),
  editorGeometry: () => ({ labelWidth: LABEL_W, cell: editor.cell, row: ROW, highestPitch: editor.hi }),
  // the recording's clock: a function giving seconds (tests drive it), null for the audio clock
  setClock: (fn) => { rec.clock = fn; },
  recorder: () => ({ active: !!rec.active, raw: rec.active ? rec.active.raw : state.take ? state.take.raw : [],
                     clicks: (rec.active ? rec.active.clicks : rec.lastClicks).map(([t, a]) => [t, a]) }),
  trackCounts: () => (state.result ? state.result.tracks.map((t) => [t.name, t.notes.length]) : []),
};

main();
