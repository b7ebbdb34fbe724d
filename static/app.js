// The launch page: list study activities and word groups, start a study session, link to the
// activity. Plain JavaScript, no build step. Every piece of data is written with textContent or
// as an attribute value, never as HTML.
"use strict";

(() => {
  const { apiBase, ApiError, api, listAll } = window.Portal; // static/portal.js

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
  let apiOrigin = null; // where the API is (this page's origin, or ?api=)

  // -- showing things --------------------------------------------------------------------------

  function setStatus(text) {
    statusLine.textContent = text;
  }

  function showError(err) {
    window.Portal.showError(errorBox, err);
  }

  function clearError() {
    window.Portal.clearError(errorBox);
  }

  function fillSelect(select, items, placeholder, label) {
    const options = [new Option(placeholder, "")];
    for (const item of items) options.push(new Option(label(item), String(item.id)));
    select.replaceChildren(...options);
    select.disabled = items.length === 0;
  }

  /** The activity's address as a URL: a relative url (e.g. /static/typing/) is relative to the
   *  API's origin, since the server that answered the activity list is the one serving it. Null
   *  when it is not an http(s) address (never a javascript: link). */
  function activityAddress(activity) {
    let url;
    try {
      url = new URL(activity.url, apiOrigin);
    } catch {
      return null;
    }
    return url.protocol === "http:" || url.protocol === "https:" ? url : null;
  }

  /** Whether the activity is served by the API's own server (so it comes with it) or elsewhere. */
  function whereItRuns(activity) {
    const url = activityAddress(activity);
    if (url === null) return "";
    if (url.origin === apiOrigin) return `Comes with this server (${url.pathname}).`;
    return (
      `External: runs at ${url.origin}, and nothing for it is bundled with this server, ` +
      "so it opens only if something is running there."
    );
  }

  function describeActivity() {
    const activity = activities.get(activitySelect.value);
    $("activity-description").textContent = activity && activity.description ? activity.description : "";
    $("activity-where").textContent = activity ? whereItRuns(activity) : "";
  }

  /** The activity's launch address with group_id and session_id (and api, when the activity is not
   *  on the API's origin, so it knows where the session is), or null if it is not a web URL. */
  function launchUrl(activity, session) {
    const url = activityAddress(activity);
    if (url === null) return null;
    url.searchParams.set("group_id", String(session.group_id));
    url.searchParams.set("session_id", String(session.id));
    if (url.origin !== apiOrigin) url.searchParams.set("api", apiOrigin);
    return url;
  }

  function showSession(session) {
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
    const url = activity ? launchUrl(activity, session) : null;
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
    $("session-where").textContent = url ? whereItRuns(activity) : "";
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
      showSession(body.study_session);
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
      apiOrigin = base;
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
