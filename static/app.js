// The launch page: list study activities and word groups, start a study session, link to the
// activity. Plain JavaScript, no build step. Every piece of data is written with textContent or
// as an attribute value, never as HTML.
"use strict";

(() => {
  const PER_PAGE = 500; // the API's maximum page size
  const MAX_PAGES = 20; // 10,000 items: more than a launch menu should ever hold

  const $ = (id) => document.getElementById(id);
  const form = $("launch-form");
  const activitySelect = $("activity");
  const groupSelect = $("group");
  const launchButton = $("launch");
  const statusLine = $("status");
  const errorBox = $("error");
  const sessionBox = $("session");

  const activities = new Map(); // id (string) -> activity
  const groups = new Map(); // id (string) -> group
  let blockedByPolicy = null; // a URL this page's Content-Security-Policy refused to connect to

  document.addEventListener("securitypolicyviolation", (event) => {
    if (event.effectiveDirective === "connect-src") blockedByPolicy = event.blockedURI;
  });

  // -- where the API is --------------------------------------------------------------------------

  /** The API's origin: this page's own, or ?api=http(s)://host[:port]. Throws a readable Error. */
  function apiBase() {
    const given = new URLSearchParams(window.location.search).get("api");
    if (given === null) {
      if (!/^https?:$/.test(window.location.protocol)) {
        throw new Error(
          "This page was not loaded over http(s), so it cannot call the API on its own origin. " +
            "Add ?api=http://127.0.0.1:5000 (the API's address) to the page's URL.",
        );
      }
      return window.location.origin;
    }
    let url;
    try {
      url = new URL(given);
    } catch {
      url = null;
    }
    const isOrigin =
      url !== null &&
      (url.protocol === "http:" || url.protocol === "https:") &&
      url.username === "" &&
      url.password === "" &&
      url.pathname === "/" &&
      url.search === "" &&
      url.hash === "";
    if (!isOrigin) {
      throw new Error(
        `The api parameter must be an http(s) origin such as http://127.0.0.1:5000 ` +
          `(scheme, host and optional port; no path), not "${given}".`,
      );
    }
    return url.origin;
  }

  // -- talking to the API ----------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, hint) {
      super(message);
      this.hint = hint || "";
    }
  }

  async function api(base, path, options = {}) {
    const url = new URL(path, base);
    let response;
    try {
      response = await fetch(url, { ...options, headers: { Accept: "application/json", ...options.headers } });
    } catch (err) {
      // fetch rejects without a status for a refused connection, a CORS refusal or a CSP block;
      // the violation event (if any) is queued as a task, so let it arrive first.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (blockedByPolicy !== null) {
        throw new ApiError(
          `This page's security policy does not allow it to call ${base}.`,
          `Start the server that serves this page with --page-api-origins ${base}.`,
        );
      }
      throw new ApiError(
        `Could not reach the API at ${base} (${err.message}).`,
        "Check that the API server is running at that address and that it allows this page's " +
          `origin (${window.location.origin}) in its --cors-origins.`,
      );
    }
    let body = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.startsWith("application/json")) {
      try {
        body = await response.json();
      } catch {
        body = null;
      }
    }
    if (!response.ok) {
      const message =
        body && typeof body.error === "string" ? body.error : `${response.status} ${response.statusText}`.trim();
      const requestId = response.headers.get("X-Request-ID");
      const retry = response.headers.get("Retry-After");
      const hint = [
        `The API answered ${response.status} to ${options.method || "GET"} ${url.pathname}.`,
        retry ? `Try again in ${retry} s.` : "",
        requestId ? `Request id: ${requestId}.` : "",
      ]
        .filter(Boolean)
        .join(" ");
      throw new ApiError(message, hint);
    }
    if (body === null) {
      throw new ApiError(`The API at ${base} answered ${url.pathname} with something other than JSON.`);
    }
    return body;
  }

  /** Every item of a paginated list (the API pages by ?page=&per_page=). */
  async function listAll(base, path, extra = "") {
    const items = [];
    for (let page = 1; page <= MAX_PAGES; page += 1) {
      const body = await api(base, `${path}?page=${page}&per_page=${PER_PAGE}${extra}`);
      items.push(...body.items);
      if (page >= body.pagination.total_pages) break;
    }
    return items;
  }

  // -- showing things --------------------------------------------------------------------------

  function setStatus(text) {
    statusLine.textContent = text;
  }

  function showError(err) {
    errorBox.replaceChildren();
    const message = document.createElement("p");
    message.textContent = err instanceof Error ? err.message : String(err);
    errorBox.append(message);
    if (err && err.hint) {
      const hint = document.createElement("p");
      hint.textContent = err.hint;
      errorBox.append(hint);
    }
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
  }

  function fillSelect(select, items, placeholder, label) {
    const options = [new Option(placeholder, "")];
    for (const item of items) options.push(new Option(label(item), String(item.id)));
    select.replaceChildren(...options);
    select.disabled = items.length === 0;
  }

  function describeActivity() {
    const activity = activities.get(activitySelect.value);
    $("activity-description").textContent = activity && activity.description ? activity.description : "";
  }

  /** The activity's launch address with group_id and session_id, or null if it is not a web URL. */
  function launchUrl(activity, session, base) {
    let url;
    try {
      url = new URL(activity.url, base);
    } catch {
      return null;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null; // never javascript: etc.
    url.searchParams.set("group_id", String(session.group_id));
    url.searchParams.set("session_id", String(session.id));
    return url;
  }

  function showSession(session, base) {
    const activity = activities.get(String(session.study_activity_id));
    const group = groups.get(String(session.group_id));
    $("session-id").textContent = `#${session.id}`;
    $("session-group").textContent = group ? group.name : `group ${session.group_id}`;
    $("session-activity").textContent = activity ? activity.name : `activity ${session.study_activity_id}`;
    const created = $("session-created");
    created.dateTime = session.created_at;
    const when = new Date(session.created_at);
    created.textContent = Number.isNaN(when.getTime()) ? session.created_at : when.toLocaleString();
    created.title = session.created_at;
    const link = $("session-link");
    const url = activity ? launchUrl(activity, session, base) : null;
    if (url) {
      link.href = url.href;
      link.textContent = `Open ${activity.name}`;
      link.title = url.href;
      link.hidden = false;
    } else {
      link.removeAttribute("href");
      link.textContent = activity
        ? `${activity.name} has no web address to open (${activity.url}).`
        : "The activity is not in the list; reload the page.";
    }
    sessionBox.hidden = false;
    sessionBox.focus();
  }

  // -- the flow --------------------------------------------------------------------------------

  async function load(base) {
    setStatus("Loading study activities and groups…");
    const [activityList, groupList] = await Promise.all([
      listAll(base, "/api/study_activities"),
      listAll(base, "/api/groups", "&sort_by=name&order=asc"),
    ]);
    for (const a of activityList) activities.set(String(a.id), a);
    for (const g of groupList) groups.set(String(g.id), g);
    fillSelect(activitySelect, activityList, "Choose an activity…", (a) => a.name);
    fillSelect(groupSelect, groupList, "Choose a group…", (g) => `${g.name} (${g.word_count} words)`);
    launchButton.disabled = activityList.length === 0 || groupList.length === 0;
    if (activityList.length === 0 || groupList.length === 0) {
      setStatus("");
      showError(
        new ApiError(
          "There is nothing to launch yet.",
          `The API has ${activityList.length} study activities and ${groupList.length} groups.`,
        ),
      );
    } else {
      setStatus(`${activityList.length} activities and ${groupList.length} groups loaded.`);
    }
  }

  async function launch(base) {
    clearError();
    if (!activitySelect.value || !groupSelect.value) {
      showError(new Error("Choose a study activity and a word group first."));
      (activitySelect.value ? groupSelect : activitySelect).focus();
      return;
    }
    launchButton.disabled = true;
    sessionBox.hidden = true;
    setStatus("Starting a study session…");
    try {
      const body = await api(base, "/api/study_sessions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          group_id: Number(groupSelect.value),
          study_activity_id: Number(activitySelect.value),
        }),
      });
      showSession(body.study_session, base);
      setStatus(`Study session ${body.study_session.id} started.`);
    } catch (err) {
      setStatus("The study session was not started.");
      showError(err);
    } finally {
      launchButton.disabled = false;
    }
  }

  async function start() {
    let base;
    try {
      base = apiBase();
    } catch (err) {
      showError(err);
      return;
    }
    $("api-base").textContent = base;
    activitySelect.addEventListener("change", describeActivity);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      launch(base);
    });
    try {
      await load(base);
    } catch (err) {
      fillSelect(activitySelect, [], "Not available", String);
      fillSelect(groupSelect, [], "Not available", String);
      setStatus("Could not load the study activities and groups.");
      showError(err);
    }
  }

  start();
})();
