"use strict";
let clips = [];
function render() {
  const kind = document.getElementById("kind").value;
  const status = document.getElementById("status").value;
  const shown = clips.filter((clip) => (!kind || clip.kind === kind) &&
    (!status || (status === "done") === (clip.submitted > 0)));
  document.getElementById("clips").replaceChildren(...shown.map((clip) => P.el("li", { class: "card", "data-kind": clip.kind },
    P.el("a", { href: `/clip?id=${encodeURIComponent(clip.id)}` }, clip.title),
    P.el("span", { class: `kind ${clip.kind}` }, clip.kind),
    P.el("span", { class: "status" }, clip.submitted ? "done" : clip.attempts ? `${clip.attempts} attempt(s)` : "not started"),
    clip.notes ? P.el("p", {}, clip.notes) : null)));
  P.show("message", shown.length ? "" : "No clips match.");
}
(async () => {
  await P.signedIn();
  clips = await P.call("GET", "/api/clips");
  for (const id of ["kind", "status"]) document.getElementById(id).onchange = render;
  render();
})().catch((err) => P.show("message", err.message, true));
