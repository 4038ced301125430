// Listening: full players through /proxy-audio, and "play both" around a moment with the
// detected offset applied, scheduled sample-accurately with the Web Audio API.
import { API, ApiError, authHeaders, needsSigning, signed, signedMany } from "./api.js";
import { ms } from "./format.js";

const CONTEXT = 2.0;     // seconds played before the moment
const LENGTH = 6.0;      // seconds played in all
const RESUME_TIMEOUT_MS = 4000;
let current = { master: null, dub: null, offsetAt: () => 0 };
let ctx = null;
let playing = [];

const proxy = (path, params = {}) =>
  `${API}/files/proxy-audio?${new URLSearchParams({ path, ...params })}`;

/** Point the players at a pair; offsetAt(t) gives the dub's offset (s) at master time t.
 * Their sources are signed URLs when a key is stored (signed again on play once stale). */
export async function setPair(master, dub, offsetAt) {
  current = { master, dub, offsetAt };
  const $ = (id) => document.getElementById(id);
  $("preview-status").textContent = "";
  const [m, d] = [proxy(master, { format: "mp3" }), proxy(dub, { format: "mp3" })];
  try {
    [$("audio-master").src, $("audio-dub").src] = await signedMany([m, d]);
  } catch (err) {
    $("preview-status").textContent = `Audio unavailable: ${err.message}`;
  }
}

/** A player whose signed source is about to expire gets a fresh one before it plays. */
async function resignOnPlay(event) {
  const audio = event.target;
  const src = audio.getAttribute("src");
  if (!needsSigning(src)) return;
  const at = audio.currentTime;
  audio.pause();
  audio.src = await signed(src);
  audio.currentTime = at;
  await audio.play().catch(() => {});
}

export function setMoment(t) {
  document.getElementById("preview-at").value = t.toFixed(1);
}

async function excerpt(path, start, duration) {
  for (const format of ["wav", "mp3"]) {
    const r = await fetch(proxy(path, { format, start: start.toFixed(4), duration: duration.toFixed(3), channels: "1" }),
      { headers: authHeaders() });
    if (!r.ok) {
      let msg = `HTTP ${r.status}`;
      try { msg = (await r.json()).error.message; } catch { /* keep */ }
      throw new ApiError(`Audio of ${path.split("/").pop()}: ${msg}`, { status: r.status });
    }
    try { return await ctx.decodeAudioData(await r.arrayBuffer()); } catch { /* try the next format */ }
  }
  throw new ApiError(`The browser could not decode the audio of ${path}`);
}

export function stop() {
  for (const s of playing) { try { s.stop(); } catch { /* already stopped */ } }
  playing = [];
}

async function playBoth() {
  const $ = (id) => document.getElementById(id);
  const status = $("preview-status");
  if (!current.master) return;
  stop();
  for (const a of [$("audio-master"), $("audio-dub")]) a.pause();
  ctx ||= new AudioContext();
  // resume() never settles when the machine has no audio output (Firefox without a sound
  // device): give up after a while and say so, instead of waiting for ever
  const started = Promise.race([ctx.resume().then(() => true, () => false),
    new Promise((resolve) => { setTimeout(() => resolve(false), RESUME_TIMEOUT_MS); })]);
  const t = Math.max(0, Number($("preview-at").value) || 0);
  const apply = $("preview-apply").checked;
  const off = apply ? (current.offsetAt(t) ?? 0) : 0;
  const a = Math.max(0, t - CONTEXT);
  const dubStart = a + off;                  // dub late by off: the same sound is off later
  status.textContent = `Loading ${a.toFixed(1)}–${(a + LENGTH).toFixed(1)} s…`;
  try {
    const [mb, db] = await Promise.all([
      excerpt(current.master, a, LENGTH),
      excerpt(current.dub, Math.max(0, dubStart), LENGTH - Math.max(0, -dubStart)),
    ]);
    if (!(await started) || ctx.state !== "running") {
      status.textContent = `The browser's audio output did not start (state: ${ctx.state}): ` +
        "no sound device, or sound is blocked for this page. The players above may still work.";
      return;
    }
    const when = ctx.currentTime + 0.15;
    const pan = $("preview-pan").checked;
    const play = (buffer, at, side) => {
      const src = ctx.createBufferSource();
      src.buffer = buffer;
      let node = src;
      if (pan) { const p = ctx.createStereoPanner(); p.pan.value = side; node.connect(p); node = p; }
      node.connect(ctx.destination);
      src.start(at);
      playing.push(src);
    };
    play(mb, when, -1);
    play(db, when + Math.max(0, -dubStart), 1);
    status.textContent = `Playing master ${a.toFixed(2)} s and dub ${dubStart.toFixed(3)} s` +
      (apply ? ` (offset ${ms(off, 2)} applied)` : " (no offset applied)") + (pan ? ": master left, dub right." : ".");
  } catch (err) {
    status.textContent = err.message;
  }
}

export function initPreview() {
  document.getElementById("preview-play").addEventListener("click", playBoth);
  for (const id of ["audio-master", "audio-dub"]) document.getElementById(id).addEventListener("play", resignOnPlay);
  document.getElementById("preview-stop").addEventListener("click", () => {
    stop();
    for (const id of ["audio-master", "audio-dub"]) document.getElementById(id).pause();
  });
}
