"use strict";
const clipId = P.param("id");
const meter = document.getElementById("level");
let recorder = null;

function scoresTable(review) {
  return P.el("table", { class: "scores" }, review.rubric.items.map((item) =>
    P.el("tr", {}, P.el("td", {}, item.title), P.el("td", { class: "score" }, review.scores[item.key]))));
}

function feedback(review, video) {
  const trace = P.el("div", { class: "trace-holder" });
  const box = P.el("div", { class: "feedback" }, P.el("h4", {}, "Feedback"),
    P.el("p", {}, "Your supervisor's moment-to-moment rating, under your video:"), trace,
    scoresTable(review), P.el("p", { class: "feedback-text" }, review.feedback),
    review.reply ? P.el("audio", { controls: true, src: `/media/reply/${review.id}` }) : null);
  drawTrace(trace, review.trace, video);
  return box;
}

function attemptItem(attempt) {
  const video = P.el("video", { controls: true, playsinline: true, src: `/media/attempt/${attempt.id}`, class: "attempt-video" });
  const note = P.el("input", { placeholder: "note for your supervisor (optional)", class: "note" });
  const submit = P.el("button", { type: "button", class: "submit", onclick: async () => {
    try {
      await P.call("POST", `/api/attempts/${attempt.id}/submit`, { note: note.value });
      await load();
      P.show("message", `Attempt ${attempt.number} sent to your supervisor.`);
    } catch (err) { P.show("message", err.message, true); }
  } }, "Send to supervisor");
  const state = attempt.review ? "reviewed" : attempt.submitted ? "sent, waiting for feedback" : null;
  return P.el("li", { class: "attempt", "data-number": attempt.number },
    P.el("h3", {}, `Attempt ${attempt.number}`, state ? P.el("span", { class: "state" }, ` — ${state}`) : null),
    video, attempt.submitted ? (attempt.note ? P.el("p", {}, `Note: ${attempt.note}`) : null) : P.el("p", {}, note, " ", submit),
    attempt.review ? feedback(attempt.review, video) : null);
}

async function load() {
  const clip = await P.call("GET", `/api/clips/${encodeURIComponent(clipId)}`);
  document.getElementById("title").textContent = clip.title;
  document.getElementById("notes").textContent = clip.notes;
  document.getElementById("attempts").replaceChildren(...clip.attempts.map(attemptItem));
}

async function record() {
  const withCamera = document.querySelector("input[name=mode]:checked").value === "video";
  const preview = document.getElementById("preview");
  recorder = new Recorder(meter);
  try {
    await recorder.start(withCamera, withCamera ? preview : null);
  } catch (err) {
    P.show("message", Recorder.explain(err, withCamera), true);
    return;
  }
  preview.hidden = !withCamera;
  document.getElementById("record").disabled = true;
  document.getElementById("stop").disabled = false;
  P.show("message", "Recording… press Stop when you have finished your response.");
}

async function stop() {
  document.getElementById("stop").disabled = true;
  const blob = await recorder.stop();
  document.getElementById("preview").hidden = true;
  try {
    const attempt = await P.upload(blob, { purpose: "attempt", clip: clipId },
      (done) => P.show("message", `Saving… ${Math.round(done * 100)}%`));
    P.show("message", `Saved as attempt ${attempt.number}. Play it back below; record again to redo.`);
    await load();
  } catch (err) { P.show("message", `Not saved: ${err.message}`, true); }
  document.getElementById("record").disabled = false;
}

(async () => {
  await P.signedIn();
  document.getElementById("clip").src = `/media/clip/${encodeURIComponent(clipId)}`;
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    P.show("message", "This browser cannot record here (it needs HTTPS or localhost, and MediaRecorder).", true);
    document.getElementById("record").disabled = true;
  }
  document.getElementById("record").onclick = record;
  document.getElementById("stop").onclick = stop;
  await load();
})().catch((err) => P.show("message", err.message, true));
