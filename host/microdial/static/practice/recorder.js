"use strict";
// Recording from the camera and microphone (or the microphone only) with MediaRecorder.
class Recorder {
  static TYPES = {
    video: ["video/webm;codecs=vp9,opus", "video/webm;codecs=vp8,opus", "video/webm", "video/mp4"],
    audio: ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"],
  };

  // The first type this browser can record, so every browser gets a file it made itself.
  static pick(kind) {
    return Recorder.TYPES[kind].find((type) => MediaRecorder.isTypeSupported(type)) || "";
  }

  static explain(err, withCamera) {
    const device = withCamera ? "camera and microphone" : "microphone";
    if (err.name === "NotAllowedError" || err.name === "SecurityError")
      return `Permission to use the ${device} was denied. Allow it for this site (the icon in the ` +
        "address bar), then press Record again.";
    if (err.name === "NotFoundError" || err.name === "OverconstrainedError")
      return `No ${device} was found. Connect one` + (withCamera ? ", or choose microphone only." : ".");
    if (err.name === "NotReadableError")
      return `The ${device} is in use by another program, or failed. Close it and try again.`;
    return `Cannot record: ${err.message || err.name}`;
  }

  constructor(meter) { this.meter = meter; this.stream = null; }

  async start(withCamera, preview) {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: withCamera });
    if (preview) { preview.srcObject = this.stream; preview.muted = true; preview.play().catch(() => {}); }
    this.type = Recorder.pick(withCamera ? "video" : "audio");
    this.recorder = new MediaRecorder(this.stream, this.type ? { mimeType: this.type } : {});
    this.pieces = [];
    this.recorder.ondataavailable = (event) => { if (event.data.size) this.pieces.push(event.data); };
    this.recorder.start(1000);
    this.listen();
  }

  // The level meter: the loudest sample of each animation frame.
  listen() {
    this.audio = new AudioContext();
    const analyser = this.audio.createAnalyser();
    analyser.fftSize = 1024;
    this.audio.createMediaStreamSource(this.stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const draw = () => {
      if (!this.stream) return;
      analyser.getFloatTimeDomainData(samples);
      this.meter.value = Math.min(1, samples.reduce((peak, s) => Math.max(peak, Math.abs(s)), 0));
      requestAnimationFrame(draw);
    };
    draw();
  }

  stop() {
    return new Promise((resolve) => {
      this.recorder.onstop = () => {
        const blob = new Blob(this.pieces, { type: this.recorder.mimeType || this.type });
        this.stream.getTracks().forEach((track) => track.stop());
        this.stream = null;
        this.audio.close();
        this.meter.value = 0;
        resolve(blob);
      };
      this.recorder.stop();
    });
  }
}
