// microdial review: a recorded session's traces under its video. The cursor follows the video's
// presented frames (requestVideoFrameCallback; timeupdate where that is missing) and a click on
// a plot seeks the video. The server thins the whole session to about one point pair per pixel
// and sends the stretch around the cursor at full resolution. Each rater's ruptures (shaded from
// onset to end) and repairs (hatched) are overlaid, and the clip table lists where they start:
// a click on a clip plays the video from there.
"use strict";

(function () {
  const { axes, clock, drawPasses, colourOf } = window.microdialPanel;
  const DETAIL_SPAN = 60; // seconds shown around the cursor
  const MARGIN = { left: 34, right: 8, top: 14, bottom: 18 };

  const params = new URLSearchParams(location.search);
  const access = new URLSearchParams();
  for (const key of ["token", "role"]) if (params.get(key)) access.set(key, params.get(key));

  const video = document.getElementById("video");
  const plots = document.getElementById("plots");
  const wholeCanvas = document.getElementById("whole");
  const detailCanvas = document.getElementById("detail");

  const dials = new Map(); // dial -> {role, color}
  const state = {
    cursor: 0, frames: 0, fetches: 0, clock: null, range: null, marks: [], colours: {}, analysis: null,
    whole: null,  // {x0, x1, traces: {dial: {x, v, full}}}
    detail: null, // the same, for the stretch around the cursor
    videoFrames: false,
  };
  window.microdial = { review: state, dials: dials };
  let dirty = true;
  let detailLoading = false;

  function url(path, extra) {
    const query = new URLSearchParams(access);
    for (const key of Object.keys(extra || {})) query.set(key, String(extra[key]));
    return path + "?" + query;
  }

  // Without x0 and x1 the server answers for the whole session.
  async function fetchTraces(x0, x1, buckets) {
    const query = x0 === null ? { n: buckets } : { x0: x0, x1: x1, n: buckets };
    const response = await fetch(url("traces", query));
    if (!response.ok) throw new Error(await response.text());
    state.fetches++;
    const data = await response.json();
    const traces = {};
    state.colours = data.colours;
    for (const t of data.traces) {
      if (!dials.has(t.dial)) dials.set(t.dial, { role: t.role, color: colourOf(data.colours, t.role) });
      traces[t.dial] = t;
    }
    return { data: data, x0: data.window[0], x1: data.window[1], traces: traces };
  }

  // -- the axis ------------------------------------------------------------------------
  function wholeSpan() {
    const duration = isFinite(video.duration) ? video.duration : 0;
    return [Math.min(0, state.range[0]), Math.max(state.range[1], duration, 1)];
  }

  function detailSpan() {
    const [lo, hi] = wholeSpan();
    const span = Math.min(DETAIL_SPAN, hi - lo);
    const x0 = Math.min(Math.max(lo, state.cursor - span / 2), hi - span);
    return [x0, x0 + span];
  }

  function maybeFetchDetail() {
    if (detailLoading || !state.range) return;
    const [x0, x1] = detailSpan();
    const have = state.detail;
    if (have && have.x0 <= x0 && have.x1 >= x1) return;
    // A little more than is shown, so playing on does not ask again at once.
    const pad = (x1 - x0) / 4;
    detailLoading = true;
    fetchTraces(x0 - pad, x1 + pad, 5000)
      .then(function (got) { state.detail = got; dirty = true; renderTable(); })
      .catch(function (err) { setLink(false, String(err)); })
      .finally(function () { detailLoading = false; maybeFetchDetail(); });
  }

  // -- the cursor ----------------------------------------------------------------------
  function setCursor(t) {
    if (!isFinite(t)) return;
    state.cursor = t;
    plots.dataset.cursor = t.toFixed(3);
    dirty = true;
    maybeFetchDetail();
    renderTable();
  }

  function onVideoFrame(now, meta) {
    setCursor(meta.mediaTime);
    video.requestVideoFrameCallback(onVideoFrame);
  }

  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
    state.videoFrames = true;
    video.requestVideoFrameCallback(onVideoFrame);
  } else {
    video.addEventListener("timeupdate", function () { setCursor(video.currentTime); });
  }
  // A seek while paused presents one frame, but the element's own time is the one asked for.
  for (const name of ["seeked", "pause", "loadedmetadata"]) {
    video.addEventListener(name, function () { setCursor(video.currentTime); });
  }

  function seekFrom(canvas, span) {
    canvas.addEventListener("click", function (event) {
      if (!state.range) return;
      const [x0, x1] = span();
      const width = canvas.clientWidth - MARGIN.left - MARGIN.right;
      const frac = Math.min(Math.max((event.offsetX - MARGIN.left) / width, 0), 1);
      let t = x0 + frac * (x1 - x0);
      if (isFinite(video.duration)) t = Math.min(Math.max(t, 0), video.duration);
      video.currentTime = t;
      setCursor(t);
    });
  }
  seekFrom(wholeCanvas, wholeSpan);
  seekFrom(detailCanvas, detailSpan);

  // -- the table -----------------------------------------------------------------------
  function valueAt(trace, t) {
    // The last sample at or before t, from full-resolution data only, in the latest pass that
    // watched t (else the latest that began before it).
    if (!trace || !trace.full || !trace.x.length) return null;
    const pieces = trace.passes.slice().reverse();
    const pass = pieces.find(([a, b]) => trace.x[a] <= t && t <= trace.x[b - 1])
      || pieces.find(([a]) => trace.x[a] <= t);
    if (!pass) return null;
    let lo = pass[0], hi = pass[1] - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (trace.x[mid] <= t) lo = mid; else hi = mid - 1;
    }
    return trace.v[lo];
  }

  function renderTable() {
    const body = document.querySelector("#dials tbody");
    const rows = [];
    for (const [name, d] of dials) {
      const tr = document.createElement("tr");
      tr.dataset.dial = name;
      const detail = state.detail && state.detail.x0 <= state.cursor && state.detail.x1 >= state.cursor
        ? state.detail.traces[name] : null;
      const value = valueAt(detail, state.cursor);
      const swatch = document.createElement("td");
      swatch.className = "swatch";
      const s = document.createElement("span");
      s.style.background = d.color;
      swatch.appendChild(s);
      tr.appendChild(swatch);
      for (const text of [d.role, name, value === null ? "–" : String(value)]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      tr.lastChild.className = "value";
      rows.push(tr);
    }
    body.replaceChildren.apply(body, rows);
  }

  // -- drawing -------------------------------------------------------------------------
  function drawPanel(canvas, x0, x1, loaded) {
    const { ctx, h, pw, ph, sx, sy } = axes(canvas, x0, x1, MARGIN, 10);
    const { left, top } = MARGIN;
    drawRuptures(ctx, sx, top, ph, x0, x1);
    for (const m of state.marks) {
      if (m.x < x0 || m.x > x1) continue;
      const d = dials.get(m.dial);
      ctx.strokeStyle = d ? d.color : "#888";
      ctx.fillStyle = ctx.strokeStyle;
      ctx.setLineDash([4, 3]);
      ctx.beginPath(); ctx.moveTo(sx(m.x), top); ctx.lineTo(sx(m.x), top + ph); ctx.stroke();
      ctx.fillText("▼ " + (m.detail || m.kind), sx(m.x) - 4, top - 3);
    }
    ctx.setLineDash([]);
    if (loaded) {
      ctx.save();
      ctx.beginPath(); ctx.rect(left, 0, pw, h); ctx.clip();
      ctx.lineWidth = 1.5;
      for (const [name, d] of dials) {
        const t = loaded.traces[name];
        if (t) drawPasses(ctx, t.x, t.v, d.color, sx, sy, x0, x1, t.passes);
      }
      ctx.restore();
    }
    if (state.cursor >= x0 && state.cursor <= x1) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(sx(state.cursor), top); ctx.lineTo(sx(state.cursor), top + ph); ctx.stroke();
    }
  }

  // Ruptures: a band from onset to end in the rater's colour; the repair, from its onset to its
  // end, hatched; "R1" etc. over each band, as the clip table numbers them.
  function drawRuptures(ctx, sx, top, ph, x0, x1) {
    if (!state.analysis) return;
    for (const r of state.analysis.ruptures) {
      const colour = colourOf(state.colours, r.role);
      if (r.end >= x0 && r.onset <= x1) {
        ctx.globalAlpha = 0.15;
        ctx.fillStyle = colour;
        ctx.fillRect(sx(r.onset), top, Math.max(sx(r.end) - sx(r.onset), 2), ph);
        ctx.globalAlpha = 1;
        ctx.fillStyle = colour;
        ctx.fillText("R" + r.number, sx(r.onset) + 2, top + 10);
      }
      const p = r.repair;
      if (p && p.end >= x0 && p.onset <= x1) {
        ctx.save();
        ctx.globalAlpha = 0.35;
        ctx.strokeStyle = colour;
        ctx.beginPath(); ctx.rect(sx(p.onset), top, Math.max(sx(p.end) - sx(p.onset), 2), ph); ctx.clip();
        for (let x = sx(p.onset) - ph; x < sx(p.end); x += 6) { ctx.moveTo(x, top + ph); ctx.lineTo(x + ph, top); }
        ctx.stroke();
        ctx.restore();
      }
    }
  }

  // The clip table: a row per rupture and repair; a click plays the video from its start.
  function renderClips() {
    const body = document.querySelector("#clips tbody");
    const rows = [];
    for (const c of state.analysis.clips) {
      const tr = document.createElement("tr");
      tr.dataset.start = String(c.start);
      tr.className = "clip " + c.kind;
      const swatch = document.createElement("td");
      swatch.className = "swatch";
      const s = document.createElement("span");
      s.style.background = colourOf(state.colours, c.role);
      swatch.appendChild(s);
      tr.appendChild(swatch);
      for (const text of [c.rater, c.kind + " " + c.number, clock(c.start), clock(c.end)]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      tr.addEventListener("click", function () { playFrom(c.start); });
      rows.push(tr);
    }
    body.replaceChildren.apply(body, rows);
    document.getElementById("analysis-source").textContent = state.analysis.source;
    document.getElementById("no-clips").hidden = rows.length > 0;
  }

  function playFrom(t) {
    if (isFinite(video.duration)) t = Math.min(Math.max(t, 0), video.duration);
    video.currentTime = t;
    setCursor(t);
    video.play().catch(function () { /* autoplay refused: the cursor is there, the user presses play */ });
  }

  function frame() {
    requestAnimationFrame(frame);
    if (!dirty || !state.whole) return;
    dirty = false;
    const [w0, w1] = wholeSpan();
    drawPanel(wholeCanvas, w0, w1, state.whole);
    const [d0, d1] = detailSpan();
    drawPanel(detailCanvas, d0, d1, state.detail);
    document.getElementById("detail-span").textContent = String(Math.round(d1 - d0));
    state.frames++;
  }

  function setLink(ok, text) {
    const link = document.getElementById("link");
    link.textContent = text;
    link.className = ok ? "ok" : "bad";
  }

  async function start() {
    video.src = url("video");
    // One pair of points per pixel of the widest the whole-session plot is likely to get.
    const buckets = Math.min(5000, Math.max(500, Math.round(screen.width * (window.devicePixelRatio || 1))));
    let got;
    try {
      got = await fetchTraces(null, null, buckets);
    } catch (err) {
      setLink(false, "cannot load the traces: " + err);
      return;
    }
    const data = got.data;
    state.range = data.range;
    state.clock = data.clock;
    state.marks = data.marks;
    state.analysis = data.analysis;
    state.whole = got;
    renderClips();
    document.getElementById("session").textContent = data.session;
    document.getElementById("scope").textContent = data.roles ? "showing only: " + data.roles.join(", ") : "all roles";
    const note = document.getElementById("clock-note");
    if (data.clock === "session") {
      note.textContent = "This session has no media time: traces are plotted against seconds since the first "
        + "sample, which need not line up with the video.";
      note.hidden = false;
    } else if (data.unplaced) {
      note.textContent = data.unplaced + " samples without media time (no player clock then) are not shown.";
      note.hidden = false;
    }
    document.getElementById("axis-note").textContent = "x: " + (data.clock === "media"
      ? "media time of the video (m:ss)" : "time since the first sample (m:ss)")
      + ". Scale −50 “Weakest possible”, 0 “Neutral”, +50 “Strongest possible”. Dashed lines: marks. "
      + "Shaded: a rupture, from its onset to its end; hatched: its repair. A stretch watched again: "
      + "earlier passes faint, the latest on top.";
    setLink(true, "recorded");
    video.addEventListener("durationchange", function () { dirty = true; });
    setCursor(video.currentTime || 0);
  }

  window.addEventListener("resize", function () { dirty = true; });
  start();
  requestAnimationFrame(frame);
})();
