"use strict";
// A moment-to-moment rating of a response video: drawn as SVG under it, with a cursor at the video's
// time. TraceRater records one from the arrow keys; feed(t, value) is the one entry point, so the
// samples of a microdial dial (media_time, value) can drive it the same way.
const SVG = "http://www.w3.org/2000/svg";

function drawTrace(holder, trace, video) {
  const width = 600, height = 120;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "trace");
  const duration = () => (video && isFinite(video.duration) && video.duration) ||
    Math.max(1, ...trace.samples.map((s) => s[0]));
  const y = (v) => height - ((v - trace.scale_min) / (trace.scale_max - trace.scale_min)) * height;
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("class", "trace-line");
  const zero = document.createElementNS(SVG, "line");
  zero.setAttribute("class", "trace-zero");
  const cursor = document.createElementNS(SVG, "line");
  cursor.setAttribute("class", "trace-cursor");
  svg.append(zero, line, cursor);
  const redraw = () => {
    const x = (t) => (t / duration()) * width;
    line.setAttribute("points", trace.samples.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
    for (const [k, v] of [["x1", 0], ["x2", width], ["y1", y(0)], ["y2", y(0)]]) zero.setAttribute(k, v);
    const at = video ? x(video.currentTime) : 0;
    for (const [k, v] of [["x1", at], ["x2", at], ["y1", 0], ["y2", height]]) cursor.setAttribute(k, v);
  };
  if (video) { video.addEventListener("timeupdate", redraw); video.addEventListener("loadedmetadata", redraw); }
  holder.replaceChildren(svg);
  redraw();
  return redraw;
}

class TraceRater {
  constructor(video, holder, readout) {
    this.video = video;
    this.readout = readout;
    this.value = 0;
    this.trace = { source: "keys", scale_min: -50, scale_max: 50, samples: [] };
    this.redraw = drawTrace(holder, this.trace, video);
    document.addEventListener("keydown", (event) => {
      if (event.target.closest("input, textarea")) return;
      const step = { ArrowUp: 5, ArrowRight: 5, ArrowDown: -5, ArrowLeft: -5 }[event.key];
      if (step === undefined) return;
      event.preventDefault();
      this.feed(this.video.currentTime, this.value + step);
    });
    // While it plays, the current value holds: a sample every quarter second keeps the trace continuous.
    setInterval(() => { if (!this.video.paused) this.feed(this.video.currentTime, this.value); }, 250);
  }

  feed(t, value) {
    this.value = Math.max(this.trace.scale_min, Math.min(this.trace.scale_max, value));
    this.trace.samples.push([Math.round(t * 1000) / 1000, this.value]);
    this.readout.textContent = this.value;
    this.redraw();
  }
}
