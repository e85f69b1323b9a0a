"use strict";
const attemptId = P.param("id");
let reply = null;
let recorder = null;

function rubricForm(rubric) {
  return rubric.items.map((item) => P.el("fieldset", { "data-item": item.key }, P.el("legend", {}, item.title),
    [1, 2, 3, 4, 5].map((point) => P.el("label", { class: "point" },
      P.el("input", { type: "radio", name: item.key, value: point }), ` ${point}`,
      item.anchors[point] ? P.el("small", {}, ` ${item.anchors[point]}`) : null))));
}

async function save(rater, rubric) {
  const scores = {};
  for (const item of rubric.items) {
    const chosen = document.querySelector(`input[name="${item.key}"]:checked`);
    if (!chosen) { P.show("message", `Score "${item.title}" first.`, true); return; }
    scores[item.key] = Number(chosen.value);
  }
  try {
    let replyId = null;
    if (reply) replyId = (await P.upload(reply, { purpose: "reply" })).id;
    await P.call("POST", `/api/attempts/${attemptId}/review`, {
      scores, feedback: document.getElementById("feedback").value, trace: rater.trace, reply: replyId,
    });
    P.show("message", "Review sent: the trainee sees it now.");
    document.getElementById("save").disabled = true;
  } catch (err) { P.show("message", err.message, true); }
}

(async () => {
  await P.signedIn();
  const [attempt, rubric] = await Promise.all([P.call("GET", `/api/attempts/${attemptId}`), P.call("GET", "/api/rubric")]);
  document.getElementById("title").textContent = `${attempt.trainee}: attempt ${attempt.number}`;
  document.getElementById("note").textContent = attempt.note ? `Their note: ${attempt.note}` : "";
  document.getElementById("clip").src = `/media/clip/${encodeURIComponent(attempt.clip_id)}`;
  const video = document.getElementById("response");
  video.src = `/media/attempt/${attemptId}`;
  document.getElementById("rubric").replaceChildren(...rubricForm(rubric));
  const rater = new TraceRater(video, document.getElementById("trace"), document.getElementById("value"));
  window.practiceRater = rater;  // a dial bridge (or a test) feeds it: practiceRater.feed(t, value)
  if (attempt.review) {
    P.show("message", "Already reviewed.");
    document.getElementById("save").disabled = true;
  }
  document.getElementById("save").onclick = () => save(rater, rubric);
  document.getElementById("record").onclick = async () => {
    recorder = new Recorder(document.getElementById("level"));
    try { await recorder.start(false, null); } catch (err) { P.show("message", Recorder.explain(err, false), true); return; }
    document.getElementById("record").disabled = true;
    document.getElementById("stop").disabled = false;
  };
  document.getElementById("stop").onclick = async () => {
    reply = await recorder.stop();
    const audio = document.getElementById("reply");
    audio.src = URL.createObjectURL(reply);
    audio.hidden = false;
    document.getElementById("record").disabled = false;
    document.getElementById("stop").disabled = true;
  };
})().catch((err) => P.show("message", err.message, true));
