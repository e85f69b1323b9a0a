"use strict";
(async () => {
  await P.signedIn();
  const rows = await P.call("GET", "/api/queue");
  if (!rows.length) P.show("message", "Nothing submitted yet.");
  document.getElementById("queue").replaceChildren(
    P.el("tr", {}, ["trainee", "clip", "attempt", "sent", "note", ""].map((h) => P.el("th", {}, h))),
    ...rows.map((row) => P.el("tr", { class: row.reviewed ? "reviewed" : "waiting" },
      P.el("td", {}, row.trainee), P.el("td", {}, row.title), P.el("td", {}, row.number),
      P.el("td", {}, P.when(row.submitted)), P.el("td", {}, row.note),
      P.el("td", {}, P.el("a", { href: `/review?id=${encodeURIComponent(row.id)}` }, row.reviewed ? "see review" : "review")))));
})().catch((err) => P.show("message", err.message, true));
