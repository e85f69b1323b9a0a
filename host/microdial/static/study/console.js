// The researcher's console: every rater's step, their dial, the live traces and the segments.
"use strict";

const query = location.search;
const $ = function (id) { return document.getElementById(id); };
let editing = null;
const shown = {};

// Parts rebuilt only when what they show changes, so a control being used keeps its focus.
function changed(part, value) {
  const key = JSON.stringify(value);
  if (shown[part] === key) { return false; }
  shown[part] = key;
  return true;
}

async function call(path, body) {
  const response = await fetch(path + query, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) { throw new Error(response.status + " " + (await response.text())); }
  return response.json();
}

function cell(row, content) {
  const td = document.createElement("td");
  if (typeof content === "string") { td.textContent = content; } else if (content) { td.append(content); }
  row.append(td);
  return td;
}

function clock(seconds) {
  if (seconds === null || seconds === undefined) { return "–"; }
  const s = Math.round(seconds);
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

function control(label, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.onclick = onclick;
  return b;
}

function segments(rater) {
  const box = document.createElement("div");
  if (rater.sequences === null) { box.textContent = "not yet found"; return box; }
  if (rater.sequences.length === 0) { box.textContent = "none"; }
  const adjustable = rater.step === "confirm";
  for (const sequence of rater.sequences) {
    const line = document.createElement("div");
    line.append("#" + sequence.number + " rupture ");
    for (const kind of ["rupture", "repair"]) {
      const span = sequence[kind];
      if (!span) { line.append(kind === "repair" ? "(no repair)" : ""); continue; }
      if (kind === "repair") { line.append(" repair "); }
      if (adjustable) {
        const input = document.createElement("input");
        input.className = "time";
        input.type = "number";
        input.value = span.start;
        input.setAttribute("aria-label", rater.rater + " sequence " + sequence.number + " " + kind + " start, seconds");
        input.onfocus = function () { editing = rater.rater; };
        input.onchange = function () {
          const length = span.end - span.start;
          span.start = Number(input.value);
          span.end = span.start + length;
          call("/api/console/adjust", { rater: rater.rater, sequences: rater.sequences }).catch(alert);
        };
        line.append(input);
      } else {
        line.append(clock(span.start) + "–" + clock(span.end));
      }
    }
    box.append(line);
  }
  if (adjustable) {
    box.append(control("Confirm segments of " + rater.rater, function () {
      editing = null;
      call("/api/console/confirm", { rater: rater.rater }).then(refresh, alert);
    }));
  }
  return box;
}

function identify(dial) {
  return control("Identify", function () { call("/api/console/identify", { dial: dial }).catch(alert); });
}

function assignments(state) {
  if (!changed("assignments", state.assignments)) { return; }
  const box = $("assign");
  box.textContent = "";
  for (const [dial, rater] of Object.entries(state.assignments)) {
    const line = document.createElement("div");
    line.dataset.dial = dial;
    const choice = document.createElement("select");
    choice.setAttribute("aria-label", "rater of dial " + dial);
    const names = state.raters.map(function (r) { return r.rater; });
    if (!names.includes(rater)) { names.push(rater); }
    for (const name of names) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      option.selected = name === rater;
      choice.append(option);
    }
    line.append("Dial " + dial + " rates as ", choice, " ");
    line.append(control("Assign", function () {
      call("/api/console/assign", { dial: dial, rater: choice.value }).then(function () {
        $("assigned").textContent = "Dial " + dial + " now rates as " + choice.value + ".";
        refresh();
      }, function (error) {
        $("assigned").textContent = "Not changed: " + error.message;
        choice.value = rater;
      });
    }), " ", identify(dial));
    box.append(line);
  }
}

function link(text, path) {
  const a = document.createElement("a");
  a.href = path + query;
  a.textContent = text;
  a.target = "_blank";
  return a;
}

// The analysis is made once every rater is done; the researcher may also ask for it at any time.
function report(state) {
  if (!changed("report", state.report)) { return; }
  const box = $("results");
  box.textContent = "In the session folder: interview.csv, interview.json, segments.json, protocol.toml. ";
  const now = state.report.state;
  if (now === "running") { box.append("The analysis is being made…"); return; }
  if (now === "ready") {
    box.append("Analysis: ", link("the report", "/report"), ", ", link("analysis.json", "/report/analysis.json"), ". ");
  } else if (now === "failed") {
    box.append("The analysis failed: " + state.report.error + " ");
  } else {
    box.append("The analysis and report are made once every rater is done. ");
  }
  box.append(control(now === "none" ? "Make the analysis now" : "Make the analysis again", function () {
    call("/api/console/analyse", {}).then(refresh, alert);
  }));
}

function draw(canvas, dial) {
  const width = canvas.width = canvas.clientWidth;
  const height = canvas.height = canvas.clientHeight;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  if (dial.x.length < 2) { return; }
  const x0 = dial.x[0];
  const span = Math.max(1, dial.x[dial.x.length - 1] - x0);
  g.beginPath();
  dial.x.forEach(function (x, i) {
    const px = (x - x0) / span * width;
    const py = height / 2 - dial.v[i] / 50 * (height / 2 - 4);
    if (i === 0) { g.moveTo(px, py); } else { g.lineTo(px, py); }
  });
  g.strokeStyle = "#124";
  g.lineWidth = 2;
  g.stroke();
}

function render(state) {
  $("session").textContent = state.session;
  if (editing === null) {
    const rows = $("raters");
    rows.textContent = "";
    for (const rater of state.raters) {
      const row = document.createElement("tr");
      row.dataset.rater = rater.rater;
      cell(row, rater.rater);
      cell(row, rater.step + " (" + (rater.index + 1) + "/" + rater.count + ")");
      cell(row, rater.step === "rating" || rater.kind === "clip"
        ? clock(rater.position) + " / " + clock(rater.duration) : (rater.step === "done" ? "complete" : ""));
      const dial = rater.dial;
      const dialCell = cell(row, dial.dial === null ? "no dial" :
        dial.dial + (dial.connected ? " at " + dial.value : " (not connected)") + " ");
      if (dial.dial !== null) {
        dialCell.append(identify(dial.dial));
      }
      cell(row, segments(rater));
      cell(row, rater.answers + (rater.interruptions ? " (" + rater.interruptions + " interruptions)" : ""));
      rows.append(row);
    }
  }
  const dials = $("dials");
  for (const dial of state.dials) {
    let canvas = dials.querySelector('canvas[data-dial="' + dial.dial + '"]');
    if (!canvas) {
      canvas = document.createElement("canvas");
      canvas.dataset.dial = dial.dial;
      dials.append(document.createElement("p"), canvas);
    }
    // The title follows a reassignment.
    canvas.previousElementSibling.textContent = dial.role + " (dial " + dial.dial + ")";
    draw(canvas, dial);
  }
  assignments(state);
  report(state);
}

async function refresh() {
  try {
    render(await call("/api/console"));
    $("connection").classList.add("hidden");
  } catch (error) {
    $("connection").textContent = "The study server does not answer: " + error.message;
    $("connection").classList.remove("hidden");
  }
}

setInterval(refresh, 1000);
refresh();
