"use strict";
document.getElementById("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await P.call("POST", "/api/login", {
      code: document.getElementById("code").value, password: document.getElementById("password").value,
    });
    location.href = "/";
  } catch (err) { P.show("message", err.message, true); }
});
