"use strict";
// One line per rubric item (and the mean) over the reviewed attempts, oldest first.
function figure(rows) {
  const width = 640, height = 260, left = 30, bottom = 20;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "progress-figure");
  const items = rows[0].rubric.items;
  const x = (i) => left + (rows.length === 1 ? 0.5 : i / (rows.length - 1)) * (width - left - 10);
  const y = (s) => 10 + (1 - (s - 1) / 4) * (height - bottom - 10);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  for (let s = 1; s <= 5; s++) {
    add("line", { x1: left, x2: width - 10, y1: y(s), y2: y(s), class: "grid" });
    add("text", { x: 5, y: y(s) + 4, class: "axis" }, s);
  }
  rows.forEach((row, i) => add("text", { x: x(i) - 8, y: height - 4, class: "axis" }, `#${i + 1}`));
  const series = items.map((item, i) => ({ name: item.title, cls: `series s${i}`, at: (row) => row.scores[item.key] }));
  series.push({ name: "mean", cls: "series mean", at: (row) => Object.values(row.scores).reduce((a, b) => a + b, 0) / Object.values(row.scores).length });
  for (const line of series) {
    add("polyline", { class: line.cls, points: rows.map((row, i) => `${x(i)},${y(line.at(row))}`).join(" ") });
    // Markers, so that a single review is a visible point and close lines stay apart.
    rows.forEach((row, i) => add("circle", { class: `${line.cls} dot`, cx: x(i), cy: y(line.at(row)), r: 3 }));
  }
  return { svg, series };
}
const SVG_NS = "http://www.w3.org/2000/svg";
(async () => {
  await P.signedIn();
  const rows = await P.call("GET", "/api/progress");
  if (!rows.length) { P.show("message", "No reviewed attempts yet."); return; }
  const { svg, series } = figure(rows);
  const legend = P.el("ul", { class: "legend" }, series.map((line) => P.el("li", { class: line.cls }, line.name)));
  document.getElementById("figure").replaceChildren(svg, legend);
  const items = rows[0].rubric.items;
  document.getElementById("table").replaceChildren(
    P.el("tr", {}, P.el("th", {}, "clip"), P.el("th", {}, "attempt"), items.map((item) => P.el("th", {}, item.key))),
    ...rows.map((row) => P.el("tr", {}, P.el("td", {}, row.title), P.el("td", {}, row.number),
      items.map((item) => P.el("td", {}, row.scores[item.key] ?? "")))));
})().catch((err) => P.show("message", err.message, true));
