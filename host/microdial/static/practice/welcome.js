"use strict";
// The one-time token is in the fragment: it never reaches a log or another site.
const invite = location.hash.slice(1);
history.replaceState(null, "", "/welcome");
document.getElementById("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = document.getElementById("password").value;
  if (password !== document.getElementById("again").value) {
    P.show("message", "the two passwords differ", true);
    return;
  }
  try {
    await P.call("POST", "/api/welcome", { invite, password });
    location.href = "/";
  } catch (err) { P.show("message", err.message, true); }
});
