/* Consent: the banner's state, and the only door to anything non-essential.
   Asks the service for the reader's state (/privacy/status: their choice, and
   Global Privacy Control). Only when allowed does it start the inert
   analytics scripts (type="text/plain" data-consent) and send this post's
   one page-view beacon. Without this script nothing non-essential runs. */
(function () {
  "use strict";
  var banner = document.getElementById("cookie-banner");
  var statsPost = document.currentScript && document.currentScript.getAttribute("data-stats-post");
  var started = false;
  var DISMISSED = "cookie-banner-dismissed";
  if (!banner || !window.fetch) return;
  banner.setAttribute("data-js", "");

  function startNonEssential() {
    if (started) return;
    started = true;
    document.querySelectorAll('script[type="text/plain"][data-consent]').forEach(function (inert) {
      var live = document.createElement("script");
      if (inert.getAttribute("data-src")) live.src = inert.getAttribute("data-src");
      else live.text = inert.text;
      inert.parentNode.replaceChild(live, inert);
    });
    if (statsPost && navigator.sendBeacon) navigator.sendBeacon("/stats/", statsPost);
  }

  function show(state, justChose) {
    var name = "none";
    if (state.gpc) name = "gpc";
    else if (state.opted_out) name = "out";
    else if (justChose === "in" || (state.mode === "opt-in" && state.allowed)) name = "in";
    banner.setAttribute("data-state", name);
    var dismissed = null;
    try { dismissed = window.localStorage.getItem(DISMISSED); } catch (e) { /* storage blocked */ }
    // Remembered per state: a new state (after a choice) shows the banner again.
    if (dismissed === name && !justChose) banner.setAttribute("data-dismissed", "");
    else banner.removeAttribute("data-dismissed");
    if (state.allowed) startNonEssential();
  }

  function ask(url, options) {
    options = options || {};
    options.headers = { Accept: "application/json" };
    options.credentials = "same-origin";
    return fetch(url, options).then(function (response) {
      if (!response.ok) throw new Error(response.status);
      return response.json();
    });
  }

  banner.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var choice = /opt-in$/.test(form.action) ? "in" : "out";
      ask(form.action, { method: "POST", body: new FormData(form) })
        .then(function (state) {
          show(state, choice);
          var button = banner.querySelector(".state-" + banner.getAttribute("data-state") + " button");
          if (button) button.focus();
        })
        .catch(function () { form.submit(); });  // fall back to the plain form post
    });
  });

  var close = banner.querySelector("[data-dismiss]");
  close.hidden = false;
  close.addEventListener("click", function () {
    try { window.localStorage.setItem(DISMISSED, banner.getAttribute("data-state")); } catch (e) { /* ok */ }
    banner.setAttribute("data-dismissed", "");
  });
  document.querySelectorAll("[data-open-banner]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      try { window.localStorage.removeItem(DISMISSED); } catch (e) { /* ok */ }
      banner.removeAttribute("data-dismissed");
      var button = banner.querySelector(".state-" + banner.getAttribute("data-state") + " button");
      if (button) button.focus();
    });
  });

  ask("/privacy/status").then(show).catch(function () { /* no service: nothing runs */ });
})();
