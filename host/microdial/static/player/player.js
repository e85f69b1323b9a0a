// Reports what the video shows, frame by frame, to the microdial server that served this page.
// Times are performance.now() milliseconds; the server maps them to its own clock with pings.
"use strict";

const video = document.getElementById("video");
// The page's own query (?token=…) opens the video and the report socket too.
video.src = "/video" + location.search;
const status = document.getElementById("status");
let socket = null;

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify(message));
  }
}

function report(type, extra) {
  send(Object.assign({ type: type, media: video.currentTime, at: performance.now() }, extra || {}));
}

function describeMedia() {
  report("media", { duration: isFinite(video.duration) ? video.duration : null });
}

function onFrame(now, metadata) {
  // expectedDisplayTime: when this frame reaches the screen; mediaTime: its presentation timestamp.
  send({ type: "frame", media: metadata.mediaTime, at: metadata.expectedDisplayTime });
  video.requestVideoFrameCallback(onFrame);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/ws/page" + location.search);
  socket.onopen = function () {
    status.textContent = "connected";
    if (video.readyState >= 1) {
      describeMedia();
      report(video.paused ? "pause" : "playing");
    }
  };
  socket.onmessage = function (event) {
    const message = JSON.parse(event.data);
    if (message.type === "ping") {
      send({ type: "pong", id: message.id, now: performance.now() });
    }
  };
  socket.onclose = function () {
    status.textContent = "disconnected; retrying";
    setTimeout(connect, 1000);
  };
}

video.addEventListener("loadedmetadata", describeMedia);
video.addEventListener("durationchange", describeMedia);
for (const type of ["playing", "pause", "waiting", "ended", "seeking", "seeked"]) {
  video.addEventListener(type, function () { report(type); });
}
video.addEventListener("ratechange", function () { report("ratechange", { rate: video.playbackRate }); });
video.addEventListener("timeupdate", function () {
  status.textContent = "at " + video.currentTime.toFixed(2) + " s";
});

video.requestVideoFrameCallback(onFrame);
connect();
video.play().catch(function () { status.textContent = "press play to start"; });
