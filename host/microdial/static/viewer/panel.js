// A trace panel's canvas, scales and grid: shared by the live viewer and review mode.
"use strict";
window.microdialPanel = (function () {
  const MIN = -50, MAX = 50;
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

  function sized(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * ratio), h = Math.round(canvas.clientHeight * ratio);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { ctx: ctx, w: canvas.clientWidth, h: canvas.clientHeight };
  }

  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-3))));
    for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
    return 10 * p;
  }

  // Clears the panel, draws the value grid (−50..+50) and about `ticks` time labels made by
  // label(t, step), and returns the drawing context with the media-time and value scales.
  function axes(canvas, x0, x1, margin, ticks, label) {
    const { ctx, w, h } = sized(canvas);
    const pw = w - margin.left - margin.right, ph = h - margin.top - margin.bottom;
    const sx = (x) => margin.left + (x - x0) / (x1 - x0 || 1) * pw;
    const sy = (v) => margin.top + (MAX - v) / (MAX - MIN) * ph;
    ctx.clearRect(0, 0, w, h);
    ctx.font = "10px sans-serif";
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#e4e4e4";
    ctx.fillStyle = "#666";
    for (const v of [MIN, -25, 0, 25, MAX]) {
      ctx.beginPath(); ctx.moveTo(margin.left, sy(v)); ctx.lineTo(w - margin.right, sy(v)); ctx.stroke();
      ctx.fillText(String(v), 4, sy(v) + 3);
    }
    const step = niceStep((x1 - x0) / ticks);
    for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) {
      ctx.fillText(label(t, step), sx(t) - 8, h - 5);
    }
    return { ctx: ctx, w: w, h: h, pw: pw, ph: ph, sx: sx, sy: sy };
  }

  return { COLORS: COLORS, axes: axes };
})();
