// Paperchain kiosk: the poll worker's page issues one-time activation codes.
"use strict";
(function () {
  const election = document.querySelector('meta[name="paperchain-election"]').content;
  const form = document.getElementById("activate");
  const result = document.getElementById("result");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const secret = document.getElementById("secret").value;
    const style = document.getElementById("style").value;
    result.textContent = "";
    const response = await fetch("/v1/elections/" + encodeURIComponent(election) + "/activations", {
      method: "POST", credentials: "omit",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + secret },
      body: JSON.stringify({ version: 1, style_id: style }),
    });
    const data = await response.json();
    if (!response.ok) {
      result.textContent = "Refused: " + data.error;
      return;
    }
    const minutes = Math.round(data.expires_in / 60);
    const code = document.createElement("p");
    code.className = "token";
    code.textContent = data.token;
    const note = document.createElement("p");
    note.textContent = "One-time code for ballot style " + data.style_id + ", valid for " +
      minutes + " minutes:";
    const shown = [note, code];
    if (data.timed_out_spoiled > 0) {
      // A voter left a printed ballot undecided: the kiosk challenged it (never cast).
      const spoil = document.createElement("p");
      spoil.className = "attention";
      spoil.id = "spoil-notice";
      spoil.textContent = "Attention: " + data.timed_out_spoiled + " printed ballot" +
        (data.timed_out_spoiled === 1 ? " was" : "s were") + " neither cast nor " +
        "challenged before the session timed out. The kiosk challenged " +
        (data.timed_out_spoiled === 1 ? "it" : "them") + " (NOT cast) and printed a " +
        "CHALLENGED receipt. Take the paper from the printer tray and mark it SPOILED.";
      shown.unshift(spoil);
    }
    result.replaceChildren(...shown);
  });
})();
