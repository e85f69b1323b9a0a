// One rater's page: the study's steps in order, everything saved on the server as it happens.
// While the whole video plays, this page is the rater's player clock: it reports every presented
// frame (requestVideoFrameCallback) on /ws/page, as the built-in player page does.
"use strict";

const query = location.search;
const $ = function (id) { return document.getElementById(id); };
const video = $("video");
const action = $("action");
let view = null;
let shownStep = null;
let poller = null;
let clock = null;
let positionTimer = null;
let online = true;
const PENDING = "microdial-pending" + query;

// -- talking to the server ---------------------------------------------------------------------
async function call(path, body) {
  const response = await fetch(path + query, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(response.status + " " + (await response.text()));
  }
  return response.json();
}

function setOnline(value) {
  online = value;
  $("connection").textContent = value ? "" : "Connection to the study lost; waiting for it to come back…";
  $("connection").classList.toggle("hidden", value);
}

async function refresh() {
  try {
    const fresh = await call("/api/rater");
    setOnline(true);
    view = fresh;
    if (view.step !== shownStep) {
      show();
    } else {
      update();
    }
    resendPending();
  } catch (error) {
    setOnline(false);
  }
}

function poll(interval) {
  clearInterval(poller);
  poller = setInterval(refresh, interval);
}

async function done(position) {
  const step = view.step;
  try {
    view = await call("/api/rater/step", { step: step, position: position === undefined ? null : position });
    show();
  } catch (error) {
    setOnline(false);
    setTimeout(function () { done(position); }, 1000);
  }
}

// -- the steps ---------------------------------------------------------------------------------
function show() {
  shownStep = view.step;
  stopClock();
  clearInterval(positionTimer);
  video.pause();
  video.onended = null;
  video.ontimeupdate = null;
  video.classList.add("hidden");
  $("dialbox").classList.add("hidden");
  $("questions").textContent = "";
  $("saved").textContent = "";
  $("text").textContent = "";
  action.classList.add("hidden");
  action.disabled = false;
  $("progress").textContent = "Step " + (view.index + 1) + " of " + view.count;
  const scale = view.protocol.scale;
  $("low").textContent = scale.low;
  $("high").textContent = scale.high;
  const steps = {
    instructions: instructions, check: check, practice: practice, rating: rating,
    finding: waiting, confirm: waiting, clip: clip, questions: questions, done: finished,
  };
  steps[view.kind]();
  $("title").focus();
  const live = ["check", "finding", "confirm"].includes(view.kind) ||
    (view.protocol.show_value && ["practice", "rating"].includes(view.kind));
  poll(live ? 150 : 2000);
}

function update() {
  if (view.kind === "check" || (view.kind === "rating" && view.protocol.show_value)) {
    drawDial();
  }
}

function say(title, text) {
  $("title").textContent = title;
  for (const paragraph of text) {
    const p = document.createElement("p");
    p.textContent = paragraph;
    $("text").appendChild(p);
  }
}

function button(label, onclick) {
  action.textContent = label;
  action.onclick = onclick;
  action.classList.remove("hidden");
}

function instructions() {
  const scale = view.protocol.scale;
  say("Before you start", [
    view.protocol.instructions,
    "The dial goes from “" + scale.low + "” (turned fully left) to “" + scale.high + "” (turned fully right).",
  ]);
  button("Continue", function () { done(); });
}

let reached = { low: false, high: false };
function check() {
  reached = { low: false, high: false };
  say("Check your dial", [
    "Turn your dial all the way to the left, then all the way to the right, then press its button.",
  ]);
  $("dialbox").classList.remove("hidden");
  button("Continue", function () { done(); });
  drawDial();
}

function drawDial() {
  const dial = view.dial;
  $("dialbox").classList.remove("hidden");
  if (!dial.connected || dial.value === null) {
    $("fill").style.left = "50%";
    $("dialstate").textContent = "No dial is connected. Please tell the researcher.";
    $("dialstate").className = "warning";
    if (view.kind === "check") { action.disabled = true; }
    return;
  }
  $("fill").style.left = (dial.value + 50) + "%";
  reached.low = reached.low || dial.value <= -40;
  reached.high = reached.high || dial.value >= 40;
  const todo = [];
  if (!reached.low) { todo.push("turn it fully left"); }
  if (!reached.high) { todo.push("turn it fully right"); }
  if (dial.presses === 0) { todo.push("press its button"); }
  $("dialstate").className = "";
  $("dialstate").textContent = "Your dial is at " + dial.value + "." +
    (view.kind === "check" ? (todo.length ? " Still to do: " + todo.join(", ") + "." : " All done.") : "");
  if (view.kind === "check") { action.disabled = todo.length > 0; }
}

function playVideo(start, end, onEnd) {
  video.classList.remove("hidden");
  if (!video.src) { video.src = "/video" + query; }
  video.currentTime = start;
  video.ontimeupdate = function () {
    if (end !== null && video.currentTime >= end) {
      video.pause();
      video.ontimeupdate = null;
      onEnd();
    }
  };
  video.onended = onEnd;
  return video.play().catch(function (error) {
    if (error.name === "NotAllowedError") {
      // The browser wants a gesture before sound: one key press or click.
      button("Play", function () { action.classList.add("hidden"); video.play(); });
    } else {
      // Interrupted by the seek or the load it started: play once the video can.
      video.addEventListener("canplay", function () { video.play().catch(function () {}); }, { once: true });
    }
  });
}

function practice() {
  say("Practice", ["A short part of the video, to get used to the dial. Nothing is recorded."]);
  if (view.protocol.show_value) { drawDial(); }
  playVideo(view.position, view.protocol.practice_seconds, function () {
    button("Continue", function () { done(); });
    action.focus();
  });
  savePositions();
}

function rating() {
  const resuming = view.position > 0;
  say("Rate the whole session", [
    resuming ? "Welcome back: the video continues where it stopped." :
      "The video now plays from start to end. Keep the dial where the " + view.protocol.scale.rated +
      " feels at each moment.",
  ]);
  if (view.protocol.show_value) { drawDial(); }
  button(resuming ? "Continue the video" : "Start the video", function () {
    action.classList.add("hidden");
    if (resuming) { report("/api/rater/resumed", "reload"); }
    startClock();
    playVideo(view.position, null, function () {
      const end = video.currentTime;
      stopClock();
      done(end);
    });
    savePositions();
  });
  action.focus();
}

function report(path, reason) {
  call(path, { step: view.step, position: video.currentTime || view.position, reason: reason }).catch(function () {});
}

function waiting() {
  if (view.kind === "finding") {
    say("Thank you", ["Finding the moments to look at again together…"]);
  } else {
    say("Please wait", ["The researcher is preparing the next part."]);
  }
}

function clip() {
  const c = view.clip;
  say((c.kind === "rupture" ? "Moment " : "What came after moment ") + c.number,
    ["Please watch this part of the session again."]);
  const start = Math.max(c.start, Math.min(view.position, c.end));
  playVideo(start, c.end, function () { done(c.end); });
  savePositions();
}

function savePositions() {
  positionTimer = setInterval(function () {
    if (!video.paused && online) {
      call("/api/rater/position", { step: view.step, position: video.currentTime }).catch(function () {});
    }
  }, 1000);
}

function questions() {
  say("Questions about moment " + view.clip.number, []);
  const pending = loadPending();
  for (const question of view.questions) {
    const label = document.createElement("label");
    label.textContent = question.text;
    label.htmlFor = "q-" + question.key;
    const box = document.createElement("textarea");
    box.id = "q-" + question.key;
    box.value = pending[question.key] ? pending[question.key].text : question.answer;
    box.addEventListener("input", function () { typed(question.key, box.value); });
    box.addEventListener("blur", function () { flush(question.key); });
    $("questions").append(label, box);
  }
  button("Continue", async function () {
    action.disabled = true;
    await flushAll();
    done();
  });
  const first = $("questions").querySelector("textarea");
  if (first) { first.focus(); }
}

function finished() {
  say("Thank you", ["You have finished. Please tell the researcher."]);
}

// -- answers: saved as typed, kept in this browser until the server has them -------------------
const timers = {};
function loadPending() {
  try { return JSON.parse(localStorage.getItem(PENDING) || "{}"); } catch (error) { return {}; }
}
function storePending(pending) { localStorage.setItem(PENDING, JSON.stringify(pending)); }

function typed(key, text) {
  const pending = loadPending();
  pending[key] = { text: text, edited: Date.now() / 1000 };
  storePending(pending);
  $("saved").textContent = "Saving…";
  clearTimeout(timers[key]);
  timers[key] = setTimeout(function () { flush(key); }, 400);
}

async function flush(key) {
  clearTimeout(timers[key]);
  const entry = loadPending()[key];
  if (!entry) { return; }
  try {
    await call("/api/rater/answer", { key: key, text: entry.text, edited: entry.edited });
    const pending = loadPending();
    if (pending[key] && pending[key].edited === entry.edited) { delete pending[key]; storePending(pending); }
    $("saved").textContent = "Saved.";
  } catch (error) {
    $("saved").textContent = "Not saved yet: kept in this browser, sent when the study is back.";
    setOnline(false);
  }
}

async function flushAll() {
  for (const key of Object.keys(loadPending())) { await flush(key); }
}

function resendPending() {
  for (const key of Object.keys(loadPending())) { flush(key); }
}

window.addEventListener("pagehide", function () {
  const pending = loadPending();
  for (const key of Object.keys(pending)) {
    navigator.sendBeacon("/api/rater/answer" + query, new Blob(
      [JSON.stringify({ key: key, text: pending[key].text, edited: pending[key].edited })],
      { type: "application/json" }));
  }
});

// -- the player clock (the rating step only) ---------------------------------------------------
function send(message) {
  if (clock && clock.readyState === WebSocket.OPEN) { clock.send(JSON.stringify(message)); }
}
function tell(type, extra) {
  send(Object.assign({ type: type, media: video.currentTime, at: performance.now() }, extra || {}));
}
function describe() { tell("media", { duration: isFinite(video.duration) ? video.duration : null }); }
function onFrame(now, metadata) {
  if (clock === null) { return; }
  send({ type: "frame", media: metadata.mediaTime, at: metadata.expectedDisplayTime });
  video.requestVideoFrameCallback(onFrame);
}
const EVENTS = ["playing", "pause", "waiting", "ended", "seeking", "seeked"];
const listeners = {};
for (const type of EVENTS) { listeners[type] = function () { tell(type); }; }
function onRate() { tell("ratechange", { rate: video.playbackRate }); }

function startClock() {
  video.addEventListener("loadedmetadata", describe);
  video.addEventListener("durationchange", describe);
  for (const type of EVENTS) { video.addEventListener(type, listeners[type]); }
  video.addEventListener("ratechange", onRate);
  openClock(false);
  video.requestVideoFrameCallback(onFrame);
}

function openClock(lost) {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + "/ws/page" + query);
  clock = socket;
  socket.onopen = function () {
    if (video.readyState >= 1) { describe(); tell(video.paused ? "pause" : "playing"); }
    if (lost) {
      // The study was restarted while this page was rating: the recording notes it, the video goes on.
      setOnline(true);
      report("/api/rater/resumed", "server restarted");
      video.play();
    }
  };
  socket.onmessage = function (event) {
    const message = JSON.parse(event.data);
    if (message.type === "ping") { send({ type: "pong", id: message.id, now: performance.now() }); }
  };
  socket.onclose = function () {
    if (clock !== socket) { return; }
    // The study is gone: stop the video, so that no second goes by unrated, and wait for it.
    video.pause();
    setOnline(false);
    setTimeout(function () { if (clock === socket) { openClock(true); } }, 500);
  };
}

function stopClock() {
  const socket = clock;
  clock = null;
  video.removeEventListener("loadedmetadata", describe);
  video.removeEventListener("durationchange", describe);
  for (const type of EVENTS) { video.removeEventListener(type, listeners[type]); }
  video.removeEventListener("ratechange", onRate);
  if (socket) { socket.close(); }
}

document.addEventListener("keydown", function (event) {
  // Space pauses or resumes a clip when no text box or button has the keyboard.
  const target = event.target.tagName;
  if (event.key === " " && target !== "TEXTAREA" && target !== "BUTTON" && !video.classList.contains("hidden")) {
    event.preventDefault();
    if (video.paused) { video.play(); } else { video.pause(); }
  }
});

refresh();
