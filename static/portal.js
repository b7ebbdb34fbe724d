// What the launch page (app.js) and the study activities served here (typing/typing.js) share:
// where the API is, and calling it with readable errors. Plain JavaScript, no build step; a classic
// script (not a module, so a page opened from a file still runs) that defines window.Portal.
"use strict";

(() => {
  let blockedByPolicy = null; // a URL this page's Content-Security-Policy refused to connect to

  document.addEventListener("securitypolicyviolation", (event) => {
    if (event.effectiveDirective === "connect-src") blockedByPolicy = event.blockedURI;
  });

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

  /** An error to show: the message first, then a hint (what to check, the status, the request id). */
  class ApiError extends Error {
    constructor(message, hint) {
      super(message);
      this.hint = hint || "";
    }
  }

  /** Call the API at ``base``; answers the JSON body, or throws an ApiError saying what went wrong. */
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

  const PER_PAGE = 500; // the API's maximum page size
  const MAX_PAGES = 20; // 10,000 items: more than a launch menu or a drill should ever hold

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

  /** Show ``err`` in ``box`` (a role="alert" element): its message, then its hint if any. */
  function showError(box, err) {
    box.replaceChildren();
    const message = document.createElement("p");
    message.textContent = err instanceof Error ? err.message : String(err);
    box.append(message);
    if (err && err.hint) {
      const hint = document.createElement("p");
      hint.textContent = err.hint;
      box.append(hint);
    }
    box.hidden = false;
  }

  function clearError(box) {
    box.hidden = true;
    box.replaceChildren();
  }

  window.Portal = Object.freeze({ apiBase, ApiError, api, listAll, showError, clearError });
})();
