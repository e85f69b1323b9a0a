"use strict";
// Shared by every practice page: the signed-in user, JSON calls with the CSRF token, resumable uploads.
const P = {
  csrf: null,
  me: null,

  async signedIn() {
    const response = await fetch("/api/me");
    if (response.status === 401) { location.href = "/login"; throw new Error("not signed in"); }
    P.me = await response.json();
    P.csrf = P.me.csrf;
    const who = document.getElementById("who");
    if (who) who.textContent = `${P.me.code} (${P.me.role})`;
    const out = document.getElementById("signout");
    if (out) out.onclick = async () => { await P.call("POST", "/api/logout", {}); location.href = "/login"; };
    return P.me;
  },

  headers(extra) {
    const headers = Object.assign({ "X-Requested-With": "microdial-practice" }, extra || {});
    if (P.csrf) headers["X-CSRF-Token"] = P.csrf;
    return headers;
  },

  async call(method, url, body) {
    const init = { method, headers: P.headers({ "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(url, init);
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
    return answer;
  },

  // A recording in 1 MB pieces; after a dropped connection, ask the server what it has and go on.
  async upload(blob, meta, onProgress) {
    const type = blob.type || "application/octet-stream";
    const created = await P.call("POST", "/api/uploads", Object.assign({ size: blob.size, type }, meta));
    let offset = 0;
    let failures = 0;
    while (offset < blob.size) {
      const end = Math.min(offset + 1024 * 1024, blob.size);
      try {
        const response = await fetch(`/api/uploads/${created.id}?offset=${offset}`, {
          method: "PUT", headers: P.headers(), body: blob.slice(offset, end),
        });
        const answer = await response.json().catch(() => ({}));
        if (response.status === 409 || response.status >= 500) throw new Error(answer.error || "retry");
        if (!response.ok) throw Object.assign(new Error(answer.error), { fatal: true });
        offset = answer.offset;
        failures = 0;
      } catch (err) {
        if (err.fatal || ++failures > 20) throw err;
        await new Promise((done) => setTimeout(done, Math.min(500 * failures, 5000)));
        offset = (await P.call("GET", `/api/uploads/${created.id}`)).offset;
      }
      if (onProgress) onProgress(offset / blob.size);
    }
    return P.call("POST", `/api/uploads/${created.id}/finish`, {});
  },

  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  },

  param(name) { return new URLSearchParams(location.search).get(name); },
  when(seconds) { return new Date(seconds * 1000).toLocaleString(); },
  show(id, message, isError) {
    const box = document.getElementById(id);
    box.textContent = message;
    box.className = isError ? "message error" : "message";
  },
};
