// Paperchain kiosk: the voter's pages (docs/spec.md §21.2).
//
// Everything the kiosk decides is decided by the server (paper/kiosk.py): this page
// shows one step at a time, keeps the voter's choices in memory only (never in
// storage, cookies or the URL), enforces the vote-for limit as the voter marks
// (overvotes cannot be entered), asks before leaving a contest with fewer choices,
// and reads aloud when asked (the browser's speech synthesis).
"use strict";

(function () {
  const election = document.querySelector('meta[name="paperchain-election"]').content;
  const base = "/v1/elections/" + encodeURIComponent(election);
  const SIZES = [1, 1.25, 1.5, 2, 2.5];
  const state = {
    config: null, session: null, lang: null, choices: {}, contest: 0, screen: "welcome",
    audio: false, size: 0, contrast: false, reviewReturn: false, lastActivity: Date.now(),
    lastKeepalive: 0, warningShown: false, decision: null, printed: null, deadline: 0,
    lostPrinted: false,
  };
  const app = document.getElementById("app");

  // --- helpers --------------------------------------------------------------------------
  function t(key, values) {
    const table = (state.config && state.config.strings[state.lang]) || {};
    let text = table[key] || key;
    for (const [name, value] of Object.entries(values || {})) {
      text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }
  function own(text) {
    return (text && (text[state.lang] || text.en)) || "";
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "onclick") node.addEventListener("click", value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  async function api(path, body) {
    const options = { method: body === undefined ? "GET" : "POST", credentials: "same-origin",
      headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(Object.assign({ version: 1 }, body));
    }
    const response = await fetch(base + path, options);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    // Every session view says how long the kiosk itself will wait: the page's countdown
    // follows the kiosk's clock, not its own guess.
    if (response.ok && data && typeof data.expires_in === "number" && data.ballot) {
      state.deadline = Date.now() + data.expires_in * 1000;
    }
    if (!response.ok) {
      const error = new Error((data && data.error) || ("HTTP " + response.status));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // --- speech -----------------------------------------------------------------------------
  const canSpeak = typeof window.speechSynthesis !== "undefined";
  function speak(text, interrupt) {
    if (!state.audio || !canSpeak || !text) return;
    if (interrupt !== false) window.speechSynthesis.cancel();
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = state.lang;
    window.speechSynthesis.speak(utterance);
  }
  function speakPage() {
    const main = document.getElementById("main");
    if (main) speak(main.innerText.replace(/\s+/g, " "));
  }

  // --- settings bar -------------------------------------------------------------------------
  function applySettings() {
    document.documentElement.style.setProperty("--scale", String(SIZES[state.size]));
    document.documentElement.classList.toggle("contrast", state.contrast);
    document.documentElement.lang = state.lang || "en";
  }
  function settingsBar() {
    // Languages are buttons, not a <select>: a two-switch user's "next" (an arrow key)
    // must move between controls, never change a value on the way.
    const languages = state.config.languages;
    async function choose(code) {
      if (code === state.lang) return;
      state.lang = code;
      if (state.session) {
        try { state.session = await api("/session/language", { language: state.lang }); }
        catch (e) { /* shown on the next step */ }
      }
      applySettings();
      render();
    }
    const picker = el("span", { class: "group", role: "group", "aria-labelledby": "language-label" },
      el("span", { id: "language-label", class: "inline" }, t("language") + ":"),
      languages.map((code) => el("button", { type: "button", id: "language-" + code, lang: code,
        "aria-pressed": String(code === state.lang), onclick: () => choose(code) },
      languageName(code))));
    return el("nav", { class: "settings", "aria-label": t("text_size") + ", " + t("language") },
      picker,
      el("span", { class: "group", role: "group", "aria-label": t("text_size") },
        el("button", { type: "button", id: "smaller",
          disabled: state.size === 0, onclick: () => { state.size -= 1; applySettings(); render(); } },
        "A−", el("span", { class: "visually-hidden" }, " " + t("smaller"))),
        el("span", { class: "size", "aria-live": "polite" },
          Math.round(SIZES[state.size] * 100) + "%"),
        el("button", { type: "button", id: "larger",
          disabled: state.size === SIZES.length - 1,
          onclick: () => { state.size += 1; applySettings(); render(); } },
        "A+", el("span", { class: "visually-hidden" }, " " + t("larger")))),
      el("button", { type: "button", id: "contrast", "aria-pressed": String(state.contrast),
        onclick: () => { state.contrast = !state.contrast; applySettings(); render(); } },
      t("contrast")),
      el("button", { type: "button", id: "audio", "aria-pressed": String(state.audio),
        disabled: !canSpeak, title: canSpeak ? null : t("audio_unavailable"),
        onclick: () => {
          state.audio = !state.audio;
          render();
          announce(t(state.audio ? "audio_on" : "audio_off"));
          if (state.audio) speakPage();
        } }, t("audio")),
      el("button", { type: "button", id: "read-page", disabled: !canSpeak,
        onclick: () => { const was = state.audio; state.audio = true; speakPage(); state.audio = was; } },
      t("read_page")));
  }
  function languageName(code) {
    try {
      return new Intl.DisplayNames([code], { type: "language" }).of(code) || code;
    } catch (e) { return code; }
  }
  function announce(text) {
    const live = document.getElementById("live");
    if (live) { live.textContent = ""; live.textContent = text; }
  }

  // --- screens ----------------------------------------------------------------------------
  function contests() { return state.session ? state.session.ballot.contests : []; }

  function render() {
    const screens = { welcome, contest: contestScreen, review, printing, printed, castDone,
      challengeDone, timedOut, ended, failure };
    const main = el("main", { id: "main", tabindex: "-1" });
    const content = (screens[state.screen] || welcome)();
    main.append(...[content].flat());
    app.replaceChildren(settingsBar(), main,
      el("div", { id: "live", class: "visually-hidden", role: "status", "aria-live": "polite" }),
      timeoutDialog());
    const heading = main.querySelector("h1");
    (heading || main).setAttribute("tabindex", "-1");
    (heading || main).focus();
    if (state.audio) speakPage();
  }

  function welcome() {
    const input = el("input", { id: "token", name: "token", autocomplete: "off",
      autocapitalize: "characters", spellcheck: "false", "aria-describedby": "token-hint",
      inputmode: "text", maxlength: "16", required: true });
    const form = el("form", { id: "start-form" },
      el("p", {}, el("label", { for: "token" }, t("code_label"))),
      el("p", {}, input),
      el("p", { id: "token-hint", class: "hint" }, t("code_hint")),
      el("p", { id: "start-error", class: "error", role: "alert" }),
      el("p", {}, el("button", { type: "submit", class: "primary", id: "start" }, t("start"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        state.session = await api("/session", { token: input.value, language: state.lang });
        state.choices = {};
        state.contest = 0;
        state.screen = "contest";
        touch(true);
        render();
      } catch (error) {
        const box = document.getElementById("start-error");
        box.textContent = t("error", { reason: error.message });
        speak(box.textContent);
      }
    });
    return [el("h1", {}, t("welcome_title")),
      el("p", { class: "lead" }, own(state.config.name) + " — " + own(state.config.jurisdiction)),
      el("p", {}, t("welcome_steps")), el("p", { class: "hint" }, t("switch_help")), form];
  }

  function chosen(contest) {
    if (!state.choices[contest.id]) state.choices[contest.id] = [];
    return state.choices[contest.id];
  }

  function contestScreen() {
    const list = contests();
    const contest = list[state.contest];
    const picked = chosen(contest);
    const limit = contest.vote_for;
    const status = el("p", { id: "count", class: "count", "aria-live": "polite" },
      t("chosen_count", { n: picked.length, k: limit }));
    const warning = el("p", { id: "limit", class: "error", role: "alert" });
    const options = contest.selections.map((selection) => {
      const on = picked.includes(selection.id);
      const atLimit = !on && picked.length >= limit;
      const box = el("input", { type: "checkbox", id: "option-" + selection.id,
        name: contest.id, value: selection.id, checked: on,
        "aria-describedby": atLimit ? "limit" : null });
      box.addEventListener("click", (event) => {
        const current = chosen(contest);
        if (box.checked && current.length >= limit) {
          event.preventDefault();  // an overvote cannot be entered
          warning.textContent = t("limit_reached", { k: limit });
          speak(warning.textContent);
          return;
        }
        const index = current.indexOf(selection.id);
        if (box.checked && index < 0) current.push(selection.id);
        if (!box.checked && index >= 0) current.splice(index, 1);
        touch();
        const label = own(selection.label);
        speak(label + ". " + t(box.checked ? "selected" : "not_selected") + ". " +
          t("chosen_count", { n: current.length, k: limit }));
        const keep = document.activeElement && document.activeElement.id;
        render();
        const again = keep && document.getElementById(keep);
        if (again) again.focus();
      });
      box.addEventListener("focus", () => speak(own(selection.label) + ". " +
        t(box.checked ? "selected" : "not_selected"), true));
      return el("li", {}, el("label", { for: "option-" + selection.id,
        class: "option" + (on ? " on" : "") },
      box, el("span", { class: "mark", "aria-hidden": "true" }, on ? "✔" : ""),
      el("span", { class: "name" }, own(selection.label)),
      el("span", { class: "state" }, on ? t("selected") : "")));
    });
    const fieldset = el("fieldset", {},
      el("legend", { class: "visually-hidden" }, own(contest.title)),
      el("ul", { class: "options" }, options));
    const next = el("button", { type: "button", class: "primary", id: "next",
      onclick: () => leaveContest(contest) }, t("next"));
    const back = state.contest > 0 && !state.reviewReturn
      ? el("button", { type: "button", id: "back", onclick: () => {
        state.contest -= 1; touch(); render(); } }, t("back"))
      : null;
    return [el("p", { class: "step" }, t("contest_of", { n: state.contest + 1, total: list.length })),
      el("h1", {}, own(contest.title)),
      el("p", { class: "instructions" }, limit === 1 ? t("vote_for_one") : t("vote_for", { k: limit })),
      status, warning, fieldset, el("p", { class: "actions" }, back, next)];
  }

  function leaveContest(contest) {
    const picked = chosen(contest);
    if (picked.length < contest.vote_for && !state.confirmUnder) {
      state.confirmUnder = contest.id;
      state.screen = "contest";
      render();
      showUndervote(contest, picked.length);
      return;
    }
    state.confirmUnder = null;
    advance();
  }

  function showUndervote(contest, count) {
    const main = document.getElementById("main");
    const dialog = el("section", { id: "undervote", role: "alertdialog", "aria-modal": "true",
      "aria-labelledby": "undervote-title", "aria-describedby": "undervote-text", class: "dialog" },
    el("h2", { id: "undervote-title" }, t("undervote_title")),
    el("p", { id: "undervote-text" }, t("undervote_text",
      { contest: own(contest.title), n: count, k: contest.vote_for })),
    el("p", { class: "actions" },
      el("button", { type: "button", id: "undervote-back", onclick: () => {
        state.confirmUnder = null; render(); } }, t("go_back_choose")),
      el("button", { type: "button", class: "primary", id: "undervote-ok", onclick: () => {
        state.confirmUnder = null; advance(); } }, t("keep_it"))));
    main.replaceChildren(dialog);
    document.getElementById("undervote-title").setAttribute("tabindex", "-1");
    document.getElementById("undervote-title").focus();
    speak(dialog.innerText);
  }

  function advance() {
    touch();
    if (state.reviewReturn || state.contest >= contests().length - 1) {
      state.reviewReturn = false;
      state.screen = "review";
    } else {
      state.contest += 1;
    }
    render();
  }

  function review() {
    const rows = contests().map((contest, index) => {
      const picked = chosen(contest);
      const labels = contest.selections.filter((s) => picked.includes(s.id))
        .map((s) => own(s.label));
      return el("li", { class: "review-item" },
        el("h2", {}, own(contest.title)),
        labels.length
          ? el("ul", {}, labels.map((label) => el("li", {}, label)))
          : el("p", { class: "none" }, t("no_selection")),
        el("button", { type: "button", class: "change", id: "change-" + contest.id,
          "aria-label": t("change") + ": " + own(contest.title),
          onclick: () => { state.contest = index; state.reviewReturn = true;
            state.screen = "contest"; touch(); render(); } }, t("change")));
    });
    return [el("h1", {}, t("review_title")), el("p", {}, t("review_help")),
      el("ol", { class: "review" }, rows),
      el("p", { class: "actions" }, el("button", { type: "button", class: "primary", id: "print",
        onclick: printBallot }, t("print")))];
  }

  async function printBallot() {
    state.screen = "printing";
    render();
    const choices = {};
    for (const contest of contests()) choices[contest.id] = chosen(contest).slice();
    try {
      state.printed = await api("/ballot/print", { choices });
      state.screen = "printed";
    } catch (error) {
      state.error = error;
      if (error.status === 401) { reset("timedOut"); return; }
      state.screen = "failure";
    }
    touch(true);
    render();
  }

  function printing() {
    return [el("h1", {}, t("printing")), el("p", { class: "spinner", "aria-hidden": "true" }, "…")];
  }

  function codeBlock(code) {
    return el("div", { class: "tracking" },
      el("h2", {}, t("tracking_code")),
      el("p", { class: "code", id: "tracking-code" }, code),
      el("p", { class: "hint" }, t("tracking_help")));
  }

  function printed() {
    const result = el("div", { id: "readback", role: "status", "aria-live": "polite" });
    return [el("h1", {}, t("printed_title")), el("p", {}, t("printed_help")),
      codeBlock(state.printed.tracking_code),
      el("div", { class: "decide" },
        el("section", { class: "choice-card" }, el("p", {}, t("cast_help")),
          el("button", { type: "button", class: "primary", id: "cast", onclick: () => decide("cast") },
            t("cast"))),
        el("section", { class: "choice-card" }, el("p", {}, t("challenge_help")),
          el("button", { type: "button", id: "challenge", onclick: () => decide("challenge") },
            t("challenge")))),
      el("section", { class: "readback" }, el("p", { class: "hint" }, t("readback_place")),
        el("button", { type: "button", id: "read-paper", onclick: () => readBack(result) },
          t("read_paper")), result)];
  }

  async function readBack(box) {
    try {
      const seen = await api("/ballot/readback", {});
      const parts = [t("readback_intro")];
      for (const problem of seen.problems) parts.push(t("readback_problem", { problem }));
      for (const contest of seen.contests) {
        if (!contest.found) { parts.push(t("readback_not_found", { contest: contest.title })); continue; }
        parts.push(contest.title + ": " + (contest.choices.length
          ? contest.choices.join(", ") : t("no_selection")) + ".");
      }
      box.replaceChildren(el("ul", {}, parts.map((p) => el("li", {}, p))));
      const was = state.audio;
      state.audio = true;
      speak(parts.join(" "));
      state.audio = was;
    } catch (error) {
      box.textContent = t("error", { reason: error.message });
    }
    touch();
  }

  async function decide(what) {
    document.querySelectorAll(".decide button").forEach((b) => { b.disabled = true; });
    try {
      state.decision = await api("/ballot/" + what, {});
      state.screen = what === "cast" ? "castDone" : "challengeDone";
      state.printed = null;
    } catch (error) {
      state.error = error;
      if (error.status === 401) { reset("timedOut"); return; }
      state.screen = "failure";
    }
    touch(true);
    // No way back: the page's history holds no earlier step.
    history.replaceState(null, "", location.pathname);
    render();
  }

  function castDone() {
    return [el("h1", {}, t("cast_done_title")), el("p", {}, t("cast_done_text")),
      codeBlock(state.decision.tracking_code),
      el("p", { class: "actions" }, el("button", { type: "button", class: "primary", id: "finish",
        onclick: finish }, t("finish")))];
  }

  function challengeDone() {
    return [el("h1", {}, t("challenge_done_title")), el("p", {}, t("challenge_done_text")),
      codeBlock(state.decision.tracking_code),
      el("p", { class: "actions" }, el("button", { type: "button", class: "primary", id: "vote-again",
        onclick: () => { state.contest = 0; state.screen = "contest"; state.decision = null;
          touch(); render(); } }, t("vote_again")))];
  }

  async function finish() {
    try { await api("/session/end", {}); } catch (e) { /* already ended */ }
    reset("ended");
  }

  function reset(screen) {
    // After a cast there is nothing left to lose: the time-out just says goodbye.
    if (screen === "timedOut" && state.screen === "castDone") screen = "ended";
    // A printed ballot left undecided at the time-out was challenged by the kiosk, never
    // cast: the voter (or the next person here) is told, and the notice stays until
    // someone presses OK, so the paper reaches a poll worker to be marked SPOILED.
    state.lostPrinted = screen === "timedOut" && (state.screen === "printed" || !!state.printed);
    state.session = null; state.choices = {}; state.decision = null; state.printed = null;
    state.contest = 0; state.screen = screen; state.warningShown = false; state.deadline = 0;
    render();
    if (screen === "ended" || (screen === "timedOut" && !state.lostPrinted)) {
      setTimeout(() => { if (state.screen === screen) { state.screen = "welcome"; render(); } }, 15000);
    }
  }

  function ended() { return [el("h1", {}, t("ended"))]; }
  function timedOut() {
    if (!state.lostPrinted) {
      return [el("h1", {}, t("timed_out")), el("p", {}, t("timed_out_nothing_kept"))];
    }
    return [el("h1", {}, t("timed_out_printed_title")),
      el("p", { class: "attention", id: "not-cast" }, t("timed_out_printed_text")),
      el("p", { class: "actions" }, el("button", { type: "button", class: "primary",
        id: "timeout-ok", onclick: () => { state.lostPrinted = false; state.screen = "welcome";
          render(); } }, t("ok")))];
  }
  function failure() {
    return [el("h1", {}, t("error", { reason: state.error ? state.error.message : "" }))];
  }

  // --- time-outs ------------------------------------------------------------------------------
  function timeoutDialog() {
    return el("section", { id: "timeout", role: "alertdialog", "aria-modal": "true",
      "aria-labelledby": "timeout-title", "aria-describedby": "timeout-text",
      class: "dialog overlay", hidden: !state.warningShown },
    el("h2", { id: "timeout-title" }, t("timeout_title")),
    el("p", { id: "timeout-text" }, ""),
    el("p", {}, el("button", { type: "button", class: "primary", id: "more-time",
      onclick: () => { touch(true); } }, t("more_time"))));
  }
  async function touch(force) {
    state.lastActivity = Date.now();
    if (state.warningShown) {
      force = true;  // the warning is up: only the kiosk's own clock can be extended
      state.warningShown = false;
      const dialog = document.getElementById("timeout");
      if (dialog) dialog.hidden = true;
    }
    if (!state.session) return;
    // Activity reaches the kiosk at most every 15 seconds (sooner for short time-outs).
    const period = Math.min(15000, state.session.idle_timeout * 250);
    if (force || Date.now() - state.lastKeepalive > period) {
      state.lastKeepalive = Date.now();
      try { await api("/session/keepalive", {}); }
      catch (error) { if (error.status === 401 && state.session) reset("timedOut"); }
    }
  }
  // The page's countdown reached zero: ask the kiosk, whose clock decides. Reading the
  // session (which does not extend it) makes the kiosk expire it first, challenging a
  // printed, undecided ballot before it answers, so "NOT cast" is shown only once the
  // challenge is on the ledger; if the kiosk still has time left, its answer resets the
  // countdown.
  async function expireNow() {
    if (state.expiring) return;
    state.expiring = true;
    try { await api("/session"); }
    catch (error) { if (state.session) reset("timedOut"); }
    finally { state.expiring = false; }
  }
  setInterval(() => {
    if (!state.session || ["ended", "timedOut", "welcome"].includes(state.screen)) return;
    const cast = state.screen === "castDone";  // no warning: nothing is left to decide
    // The kiosk's deadline, as its last answer gave it (activity in between is sent
    // with the next keepalive, at most 15 seconds later, or at once once warned).
    const left = Math.ceil((state.deadline - Date.now()) / 1000);
    if (left <= 0) { expireNow(); return; }
    if (left <= state.session.warning && !cast) {
      const dialog = document.getElementById("timeout");
      const key = state.printed ? "timeout_text_printed" : "timeout_text";
      document.getElementById("timeout-text").textContent = t(key, { s: left });
      if (!state.warningShown) {
        state.warningShown = true;
        dialog.hidden = false;
        document.getElementById("more-time").focus();
        speak(t("timeout_title") + " " + t(key, { s: left }));
      }
    }
  }, 1000);

  // --- keyboard and switches: arrows move like Tab; Enter and Space press ------------------
  document.addEventListener("keydown", (event) => {
    // A switch that sends Enter ticks a choice as Space does (a checkbox ignores Enter).
    if (event.key === "Enter" && event.target && event.target.type === "checkbox") {
      event.preventDefault();
      event.target.click();
      return;
    }
    if (!["ArrowDown", "ArrowUp", "ArrowRight", "ArrowLeft"].includes(event.key)) return;
    if (event.target && event.target.tagName === "SELECT") return;
    const typing = event.target && event.target.tagName === "INPUT" && event.target.type !== "checkbox";
    if (typing && (event.key === "ArrowLeft" || event.key === "ArrowRight")) return;  // editing text
    const focusable = Array.from(document.querySelectorAll(
      "button:not([disabled]), input, select, [href]")).filter((n) => n.offsetParent !== null);
    const at = focusable.indexOf(document.activeElement);
    const step = event.key === "ArrowDown" || event.key === "ArrowRight" ? 1 : -1;
    const next = focusable[(at + step + focusable.length) % focusable.length];
    if (next) { event.preventDefault(); next.focus(); }
  });
  document.addEventListener("pointerdown", () => { if (state.session) touch(); });
  // A key (or a switch) is activity too; while the warning is up it asks for more time.
  document.addEventListener("keydown", () => { if (state.session) touch(); });

  // The browser's Back button never returns to an earlier step.
  history.pushState(null, "", location.pathname);
  window.addEventListener("popstate", () => history.pushState(null, "", location.pathname));

  // --- start ----------------------------------------------------------------------------------
  (async function start() {
    state.config = await api("/kiosk");
    state.lang = state.config.languages[0];
    applySettings();
    try {
      state.session = await api("/session");
      state.lang = state.session.language;
      if (state.session.state === "printed") {
        state.printed = { tracking_code: state.session.tracking_code };
        state.screen = "printed";
      } else if (state.session.state === "marking") {
        state.screen = "contest";
      }
    } catch (error) { state.session = null; }
    applySettings();
    render();
  })();
})();
