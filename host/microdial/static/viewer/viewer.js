// microdial live view: traces pushed by the server over a WebSocket, drawn on canvas once per
// animation frame (the server already coalesces samples into one message per push interval).
// The whole-session panel starts with the history the server has (the recording's, when it could
// read it) and draws each pass over a re-watched stretch separately, the latest on top; the
// rolling window shows the current pass only.
"use strict";

(function () {
  const { axes, clock, drawPasses, colourOf, SEEK_BACK } = window.microdialPanel;
  const WHOLE_LIMIT = 8000; // points per dial kept for the whole-session panel

  const params = new URLSearchParams(location.search);
  const dials = new Map(); // dial -> {role, color, rx, rv, wx, wv, stride, seen, info}
  let events = [];
  let palette = {}; // role -> colour, from the server
  let windowSeconds = 30;
  let dirty = true;

  // Read by tests and the benchmark: points received, frames drawn, and for each frame that
  // drew new points the delay from the newest sample's host time to the draw (seconds).
  const stats = { received: 0, frames: 0, delays: [], messages: 0 };
  window.microdial = { stats: stats, dials: dials, history: null };

  function dialOf(name, role) {
    let d = dials.get(name);
    if (!d) {
      d = { role: role, color: colourOf(palette, role), rx: [], rv: [], wx: [], wv: [],
            stride: 1, seen: 0, info: null, newest: null };
      dials.set(name, d);
    }
    return d;
  }

  function addPoints(name, xs, vs) {
    const d = dials.get(name);
    if (!d) return;
    for (let i = 0; i < xs.length; i++) {
      // A jump back (a seek) starts a new pass: the rolling window shows the current one only.
      if (d.rx.length && xs[i] < d.rx[d.rx.length - 1] - SEEK_BACK) { d.rx = []; d.rv = []; }
      d.rx.push(xs[i]); d.rv.push(vs[i]);
      if (d.seen % d.stride === 0) {
        d.wx.push(xs[i]); d.wv.push(vs[i]);
        if (d.wx.length > WHOLE_LIMIT) {
          d.wx = d.wx.filter((_, j) => j % 2 === 0);
          d.wv = d.wv.filter((_, j) => j % 2 === 0);
          d.stride *= 2;
        }
      }
      d.seen++;
    }
    stats.received += xs.length;
  }

  function latestX() {
    let latest = -Infinity;
    for (const d of dials.values()) if (d.rx.length) latest = Math.max(latest, d.rx[d.rx.length - 1]);
    return latest;
  }

  function trimRecent() {
    const end = latestX();
    for (const d of dials.values()) {
      let cut = 0;
      // Points older than the window leave the rolling view.
      while (cut < d.rx.length && d.rx[cut] < end - windowSeconds * 1.5) cut++;
      if (cut) { d.rx.splice(0, cut); d.rv.splice(0, cut); }
    }
  }

  function setColours(table) {
    palette = table;
    for (const d of dials.values()) d.color = colourOf(palette, d.role);
  }

  function setInfo(list) {
    for (const info of list) dialOf(info.dial, info.role).info = info;
    renderTable();
    renderPlayback();
  }

  // The player of the most recently heard rater: its state and where it is in the video.
  function renderPlayback() {
    let latest = null;
    for (const d of dials.values()) {
      const i = d.info;
      if (i && i.playback && (latest === null || i.position !== null)) latest = i;
    }
    const el = document.getElementById("playback");
    el.textContent = latest === null ? "no player"
      : latest.playback + (latest.position === null || latest.position === undefined ? "" : " at " + clock(latest.position));
    el.dataset.state = latest === null ? "" : latest.playback;
  }

  function fmt(v, digits) { return v === null || v === undefined ? "–" : v.toFixed(digits); }

  function renderTable() {
    const body = document.querySelector("#dials tbody");
    const rows = [];
    for (const [name, d] of dials) {
      const i = d.info || { state: "unknown" };
      const tr = document.createElement("tr");
      tr.className = i.state;
      tr.dataset.dial = name;
      const cells = [
        "", d.role, name, i.state, i.value === null || i.value === undefined ? "–" : String(i.value),
        i.playback || "–", i.position === null || i.position === undefined ? "–" : clock(i.position),
        i.received_hz === undefined ? "–" : fmt(i.received_hz, 0) + " /s" + (i.rate_hz ? " of " + i.rate_hz : ""),
        i.uncertainty === null || i.uncertainty === undefined ? "–" : fmt(i.uncertainty * 1000, 1) + " ms",
        String(i.drops || 0) + (i.gaps ? " (" + i.gaps + " gaps)" : ""),
      ];
      cells.forEach(function (text, k) {
        const td = document.createElement("td");
        if (k === 0) {
          td.className = "swatch";
          const s = document.createElement("span");
          s.style.background = d.color;
          td.appendChild(s);
        } else td.textContent = text;
        tr.appendChild(td);
      });
      rows.push(tr);
    }
    body.replaceChildren.apply(body, rows);
  }

  // -- drawing ------------------------------------------------------------------------
  function drawPanel(canvas, x0, x1, pick) {
    const margin = { left: 34, right: 6, top: 6, bottom: 18 };
    const { ctx, ph, sx, sy } = axes(canvas, x0, x1, margin, 8);
    const top = margin.top;
    for (const e of events) {
      if (e.x < x0 || e.x > x1 || !dials.has(e.dial)) continue;
      ctx.strokeStyle = e.kind === "button" ? dials.get(e.dial).color : "#bbb";
      ctx.setLineDash(e.kind === "button" ? [] : [3, 3]);
      ctx.beginPath(); ctx.moveTo(sx(e.x), top); ctx.lineTo(sx(e.x), top + ph); ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.lineWidth = 1.5;
    for (const d of dials.values()) {
      const [xs, vs] = pick(d);
      drawPasses(ctx, xs, vs, d.color, sx, sy, x0, x1);
    }
  }

  function frame() {
    requestAnimationFrame(frame);
    if (!dirty) return;
    dirty = false;
    trimRecent();
    const end = latestX();
    if (end === -Infinity) return;
    drawPanel(document.getElementById("recent"), Math.max(0, end - windowSeconds), Math.max(end, windowSeconds), (d) => [d.rx, d.rv]);
    let lo = Infinity, hi = -Infinity;
    for (const d of dials.values()) for (const x of d.wx) { if (x < lo) lo = x; if (x > hi) hi = x; }
    drawPanel(document.getElementById("whole"), Math.min(lo, 0), Math.max(hi, 1), (d) => [d.wx, d.wv]);
    stats.frames++;
    let newest = null;
    for (const d of dials.values()) if (d.newest !== null && (newest === null || d.newest > newest)) newest = d.newest;
    if (newest !== null) {
      stats.delays.push(Date.now() / 1000 - newest);
      if (stats.delays.length > 5000) stats.delays.shift();
      for (const d of dials.values()) d.newest = null;
    }
  }

  // -- the link -----------------------------------------------------------------------
  function onMessage(raw) {
    const m = JSON.parse(raw.data);
    stats.messages++;
    if (m.type === "snapshot") {
      dials.clear();
      windowSeconds = m.window;
      document.getElementById("window-seconds").textContent = String(m.window);
      document.getElementById("session").textContent = m.session || "";
      document.getElementById("scope").textContent = m.roles ? "showing only: " + m.roles.join(", ") : "all roles";
      setColours(m.colours);
      for (const info of m.dials) dialOf(info.dial, info.role);
      for (const name of Object.keys(m.history)) addPoints(name, m.history[name].x, m.history[name].v);
      events = m.events;
      window.microdial.history = m.history_from;
      const from = document.getElementById("history-from");
      from.textContent = m.history_from.note;
      from.dataset.source = m.history_from.source;
      setInfo(m.dials);
    } else {
      for (const name of Object.keys(m.samples)) {
        const s = m.samples[name];
        if (!dials.has(name)) continue;
        addPoints(name, s.x, s.v);
        dials.get(name).newest = s.t;
      }
      if (m.events.length) events = events.concat(m.events);
      if (m.colours) setColours(m.colours);
      if (m.dials) setInfo(m.dials);
    }
    const link = document.getElementById("link");
    link.textContent = m.broker ? "live" : "broker unreachable";
    link.className = m.broker ? "ok" : "bad";
    dirty = true;
  }

  function connect() {
    const query = new URLSearchParams();
    if (params.get("token")) query.set("token", params.get("token"));
    if (params.get("role")) query.set("role", params.get("role"));
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?" + query;
    const ws = new WebSocket(url);
    ws.onmessage = onMessage;
    ws.onclose = function () {
      const link = document.getElementById("link");
      link.textContent = "viewer server unreachable; retrying";
      link.className = "bad";
      setTimeout(connect, 1000);
    };
  }

  connect();
  requestAnimationFrame(frame);
})();
