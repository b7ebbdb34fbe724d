// The Typing Tutor, a study activity served with the API (at /static/typing/). The launch page opens
// it with ?group_id=G&session_id=S (and ?api=ORIGIN when it is not on the API's origin). It shows the
// group's words one at a time, the learner types each one's romaji, and every answer is posted as a
// review of the session (POST /api/study_sessions/S/words/W/review) with its own Idempotency-Key,
// so retrying a save never counts an answer twice. Plain JavaScript, no build step; data is
// written with textContent, never as HTML.
"use strict";

(() => {
  const { apiBase, ApiError, api, listAll } = window.Portal; // static/portal.js
  const MAX_ID = 2147483647; // the API's ids are PostgreSQL integers

  const $ = (id) => document.getElementById(id);
  const statusLine = $("status");
  const errorBox = $("error");
  const drill = $("drill");
  const form = $("answer-form");
  const input = $("answer");
  const checkButton = $("check");
  const feedback = $("feedback");
  const nextButton = $("next");
  const retryButton = $("retry");
  const finishButton = $("finish");

  let base = null; // the API's origin
  let sessionId = 0;
  let words = []; // the group's words, shuffled
  let position = 0; // index into words of the word shown
  const answers = []; // {word, typed, correct, key, saved}
  let current = null; // the answer of the word shown, or null while the learner types
  let saving = null; // the save in flight, if any
  let finished = false;

  // -- reading the address -----------------------------------------------------------------------

  /** A positive id from the query string, or an Error saying what is wrong with it. */
  function idParameter(params, name) {
    const given = params.get(name);
    if (given === null || given === "") {
      throw new Error(
        `This activity needs ${name} in its address (…/static/typing/?group_id=1&session_id=1). ` +
          "Open it from the launch page, which starts a study session and adds both.",
      );
    }
    const value = /^[0-9]{1,10}$/.test(given) ? Number(given) : NaN;
    if (!(value >= 1 && value <= MAX_ID)) {
      throw new Error(`${name} must be a whole number from 1 to ${MAX_ID}, not "${given}".`);
    }
    return value;
  }

  // -- small helpers -----------------------------------------------------------------------------

  /** What counts when comparing romaji: letters only, any case, full-width letters as plain ones. */
  function normalise(text) {
    return text.normalize("NFKC").toLowerCase().replace(/[^a-z]/g, "");
  }

  /** A random UUID (version 4) for an Idempotency-Key. crypto.randomUUID needs a secure context
   *  (https or localhost); getRandomValues works on plain http too, e.g. at a LAN address. */
  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function shuffle(items) {
    for (let i = items.length - 1; i > 0; i -= 1) {
      const j = Math.floor(Math.random() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  function setStatus(text) {
    statusLine.textContent = text;
  }

  function showError(err) {
    window.Portal.showError(errorBox, err);
  }

  function clearError() {
    window.Portal.clearError(errorBox);
  }

  function savedAnswers() {
    return answers.filter((a) => a.saved);
  }

  function progressText() {
    const saved = savedAnswers();
    const right = saved.filter((a) => a.correct).length;
    const word = `Word ${position + 1} of ${words.length}`;
    return saved.length === 0 ? word : `${word} · ${right} of ${saved.length} right so far`;
  }

  // -- the drill ---------------------------------------------------------------------------------

  function showWord() {
    const word = words[position];
    current = null;
    $("progress").textContent = progressText();
    $("kanji").textContent = word.kanji;
    $("english").textContent = word.english;
    feedback.textContent = "";
    feedback.className = "feedback";
    input.value = "";
    input.readOnly = false;
    input.removeAttribute("aria-invalid");
    checkButton.disabled = false;
    nextButton.hidden = true;
    retryButton.hidden = true;
    input.focus();
  }

  function save(answer) {
    saving = post(answer).finally(() => {
      saving = null;
    });
  }

  async function post(answer) {
    retryButton.hidden = true;
    clearError();
    setStatus("Saving your answer…");
    try {
      await api(base, `/api/study_sessions/${sessionId}/words/${answer.word.id}/review`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": answer.key },
        body: JSON.stringify({ correct: answer.correct }),
      });
    } catch (err) {
      if (finished) return;
      setStatus("Your answer was not saved.");
      showError(err);
      retryButton.hidden = false;
      retryButton.focus();
      return;
    }
    answer.saved = true;
    if (finished) return;
    setStatus(`Answer ${savedAnswers().length} saved.`);
    $("progress").textContent = progressText();
    const last = position === words.length - 1;
    nextButton.textContent = last ? "See your score" : "Next word";
    nextButton.hidden = false;
    nextButton.focus();
  }

  function check(event) {
    event.preventDefault();
    if (current !== null || finished) return; // already answered: Next, Try again or Finish
    const word = words[position];
    const typed = input.value.trim();
    if (normalise(typed) === "") {
      feedback.className = "feedback";
      feedback.textContent =
        typed === ""
          ? "Type the romaji first, then press Enter."
          : `Romaji is written with the letters a to z; "${typed}" has none.`;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    const correct = normalise(typed) === normalise(word.romaji);
    current = { word, typed, correct, key: newKey(), saved: false };
    answers.push(current);
    input.readOnly = true;
    input.removeAttribute("aria-invalid");
    checkButton.disabled = true;
    feedback.className = correct ? "feedback right" : "feedback wrong";
    feedback.textContent = correct
      ? `Right: ${word.kanji} (${word.english}) is ${word.romaji}.`
      : `Not quite: ${word.kanji} (${word.english}) is ${word.romaji}; you typed ${typed}.`;
    save(current);
  }

  function next() {
    if (current === null || !current.saved) return;
    if (position === words.length - 1) {
      finish();
      return;
    }
    position += 1;
    setStatus("");
    showWord();
  }

  async function finish() {
    if (finished) return;
    finished = true;
    finishButton.disabled = true;
    if (saving !== null) {
      setStatus("Saving your last answer…");
      await saving; // counted if it is saved; never lost by finishing early
    }
    drill.hidden = true;
    clearError();
    const saved = savedAnswers();
    const right = saved.filter((a) => a.correct).length;
    const score = $("score");
    if (saved.length === 0) {
      score.textContent = "No answers were saved in this session.";
    } else {
      const percent = Math.round((100 * right) / saved.length);
      score.textContent = `You got ${right} of ${saved.length} right (${percent}%).`;
    }
    const unsaved = answers.length - saved.length;
    const unsavedLine = $("unsaved");
    unsavedLine.hidden = unsaved === 0;
    unsavedLine.textContent = unsaved === 0 ? "" : `${unsaved} answer${unsaved === 1 ? " was" : "s were"} not saved and not counted.`;
    const list = $("answers");
    list.replaceChildren(
      ...saved.map((a) => {
        const item = document.createElement("li");
        item.className = a.correct ? "right" : "wrong";
        const kanji = document.createElement("span");
        kanji.lang = "ja";
        kanji.className = "answer-kanji";
        kanji.textContent = a.word.kanji;
        const verdict = a.correct ? "right" : `wrong, you typed ${a.typed}`;
        item.append(kanji, ` ${a.word.romaji} (${a.word.english}): ${verdict}`);
        return item;
      }),
    );
    setStatus("Session finished.");
    $("result").hidden = false;
    $("result").focus();
  }

  // -- starting ----------------------------------------------------------------------------------

  async function load(groupId) {
    setStatus("Loading the study session and its words…");
    const { study_session: session } = await api(base, `/api/study_sessions/${sessionId}`);
    if (session.group_id !== groupId) {
      throw new ApiError(
        `Study session ${sessionId} is for group ${session.group_id} (${session.group_name}), not group ${groupId}.`,
        "Open the activity again from the launch page.",
      );
    }
    $("session-line").textContent =
      `Study session #${session.id} · ${session.group_name} · ${session.activity_name}`;
    words = shuffle(await listAll(base, `/api/groups/${groupId}/words`));
    if (words.length === 0) {
      throw new ApiError(
        `The group ${session.group_name} has no words to practise.`,
        "Choose another group on the launch page.",
      );
    }
    setStatus(`${words.length} words to practise.`);
    drill.hidden = false;
    showWord();
  }

  async function start() {
    const params = new URLSearchParams(window.location.search);
    let groupId;
    try {
      base = apiBase();
      groupId = idParameter(params, "group_id");
      sessionId = idParameter(params, "session_id");
    } catch (err) {
      showError(err);
      return;
    }
    $("api-base").textContent = base;
    const given = params.get("api");
    if (given !== null) $("back").href = `/?api=${encodeURIComponent(given)}`;
    form.addEventListener("submit", check);
    nextButton.addEventListener("click", next);
    retryButton.addEventListener("click", () => {
      // The same key again: if the first try did reach the server, this one is not counted twice.
      if (current !== null && !current.saved && saving === null) save(current);
    });
    finishButton.addEventListener("click", finish);
    try {
      await load(groupId);
    } catch (err) {
      setStatus("The activity could not start.");
      showError(err);
    }
  }

  start();
})();
