// A trace panel's canvas, scales and grid, m:ss labels, and passes: shared by the live viewer and
// review mode. Colours are not here: every page gets its role -> colour table from the server
// (microdial.analysis.colours), so the pages and the figure cannot drift apart.
"use strict";
window.microdialPanel = (function () {
  const MIN = -50, MAX = 50;
  const NO_COLOUR = "#888";

  function sized(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * ratio), h = Math.round(canvas.clientHeight * ratio);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { ctx: ctx, w: canvas.clientWidth, h: canvas.clientHeight };
  }

  function niceStep(raw) {
    // Seconds, then whole minutes: labels fall on 0:10, 0:30, 1:00, 5:00 ...
    for (const s of [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]) if (raw <= s) return s;
    return 3600 * Math.ceil(raw / 3600);
  }

  // m:ss (h:mm:ss past an hour); tenths when the step is under a second.
  function clock(t, step) {
    const tenths = step !== undefined && step < 1;
    const sign = t < 0 ? "-" : "";
    let rest = Math.abs(t);
    rest = tenths ? Math.round(rest * 10) / 10 : Math.round(rest);
    const h = Math.floor(rest / 3600), m = Math.floor((rest % 3600) / 60), s = rest % 60;
    const ss = (s < 10 ? "0" : "") + (tenths ? s.toFixed(1) : String(s));
    return sign + (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + ss;
  }

  // Clears the panel, draws the value grid (−50..+50) and about `ticks` m:ss time labels, and
  // returns the drawing context with the time and value scales.
  function axes(canvas, x0, x1, margin, ticks) {
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
      const label = clock(t, step);
      ctx.fillText(label, Math.min(sx(t) - 10, w - ctx.measureText(label).width - 2), h - 5);
    }
    return { ctx: ctx, w: w, h: h, pw: pw, ph: ph, sx: sx, sy: sy };
  }

  // A jump back in media time by more than this is a seek (as the report's re-watched stretches);
  // smaller steps back are a player correcting its position and stay in the line.
  const SEEK_BACK = 0.5;

  // A trace cut where the time jumps back (a seek): each piece [from, to) is one pass over the video.
  function passes(xs) {
    const cuts = [0];
    for (let i = 1; i < xs.length; i++) if (xs[i] < xs[i - 1] - SEEK_BACK) cuts.push(i);
    cuts.push(xs.length);
    const out = [];
    for (let k = 0; k + 1 < cuts.length; k++) out.push([cuts[k], cuts[k + 1]]);
    return out;
  }

  // A re-watched stretch is not a scribble: each pass is its own line by media time, drawn in the
  // order watched, so the latest is on top; where a later pass covers the same media time, the
  // earlier one is faint. `pieces`: the passes when the server says where they are.
  function drawPasses(ctx, xs, vs, colour, sx, sy, x0, x1, pieces) {
    pieces = pieces || passes(xs);
    const spans = pieces.map(([a, b]) => [Math.min(xs[a], xs[b - 1]), Math.max(xs[a], xs[b - 1])]);
    ctx.strokeStyle = colour;
    pieces.forEach(function ([a, b], k) {
      const later = spans.slice(k + 1);
      const faint = (x) => later.some(([lo, hi]) => x >= lo && x <= hi);
      let state = null;
      for (let i = a; i < b; i++) {
        if (xs[i] < x0 && i + 1 < b && xs[i + 1] < x0) continue;
        const now = faint(xs[i]);
        if (state === null || now !== state) {
          if (state !== null) { ctx.lineTo(sx(xs[i]), sy(vs[i])); ctx.stroke(); }
          ctx.globalAlpha = now ? 0.3 : 1;
          ctx.beginPath();
          ctx.moveTo(sx(xs[i]), sy(vs[i]));
          state = now;
        } else ctx.lineTo(sx(xs[i]), sy(vs[i]));
        if (xs[i] > x1) break;
      }
      if (state !== null) ctx.stroke();
    });
    ctx.globalAlpha = 1;
  }

  function colourOf(table, role) { return (table && table[role]) || NO_COLOUR; }

  return { axes: axes, clock: clock, passes: passes, drawPasses: drawPasses, colourOf: colourOf, SEEK_BACK: SEEK_BACK };
})();
