/* Comment form, enhanced: send it without leaving the page.
   Without JavaScript the form posts normally and the service answers with
   pages; with it, the same endpoint answers JSON (202 queued, 400 with a
   message per field) and nothing the reader typed is lost on error.

   Every attempt from this page carries one random submission key, made at
   the first Submit (never in the HTML: every reader gets the same cached
   page). A request whose answer was lost (the connection dropped) is sent
   again, here automatically and by the reader pressing Submit, with the same
   key: the service stores the comment once and answers the retry as the
   first. See comments_service/submission_keys.py. */
(function () {
  "use strict";
  var form = document.getElementById("comment-form");
  if (!form || !window.fetch || !window.FormData) return;
  var live = document.createElement("div");
  live.setAttribute("role", "status");
  form.parentNode.insertBefore(live, form);
  var RETRY_DELAYS_MS = [1000, 3000];  // then the reader decides
  var submissionKey = null;

  function newSubmissionKey() {
    var crypto = window.crypto;
    if (crypto && crypto.randomUUID) return crypto.randomUUID();
    if (!crypto || !crypto.getRandomValues) return null;  // the service derives one
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) {
      return (b + 256).toString(16).slice(1);
    }).join("");
  }

  // Sends until an answer arrives; only a lost answer (fetch rejects) is
  // retried: any answer, even an error, is the service's word.
  function send(body, attempt) {
    return fetch(form.action, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json" },
      credentials: "same-origin"
    }).catch(function (error) {
      if (attempt >= RETRY_DELAYS_MS.length) throw error;
      return new Promise(function (resolve) {
        setTimeout(resolve, RETRY_DELAYS_MS[attempt]);
      }).then(function () { return send(body, attempt + 1); });
    });
  }

  function clearErrors() {
    form.querySelectorAll(".error").forEach(function (el) { el.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (field) {
      field.removeAttribute("aria-invalid");
      var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id && id !== field.id + "-error";
      });
      if (ids.length) field.setAttribute("aria-describedby", ids.join(" "));
      else field.removeAttribute("aria-describedby");
      field.closest(".field").classList.remove("has-error");
    });
  }

  function showFieldErrors(errors) {
    var first = null;
    Object.keys(errors).forEach(function (name) {
      var field = form.querySelector("#" + name) || form.querySelector("#body");
      var message = document.createElement("span");
      message.className = "error";
      message.id = field.id + "-error";
      message.textContent = errors[name];
      field.insertAdjacentElement("afterend", message);
      field.setAttribute("aria-invalid", "true");
      var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      ids.push(message.id);
      field.setAttribute("aria-describedby", ids.join(" "));
      field.closest(".field").classList.add("has-error");
      first = first || field;
    });
    if (first) first.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors();
    live.textContent = "";
    live.className = "";
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    var body = new FormData(form);
    submissionKey = submissionKey || newSubmissionKey();
    if (submissionKey) body.set("submission_key", submissionKey);
    send(body, 0)
      .then(function (response) {
        return response.json().then(function (data) { return { code: response.status, data: data }; });
      })
      .then(function (result) {
        if (result.code === 202) {
          live.className = "status";
          live.textContent = result.data.message;
          form.reset();
          form.hidden = true;
        } else if (result.code === 400 && result.data.errors) {
          showFieldErrors(result.data.errors);
        } else {
          live.className = "status error-summary";
          live.textContent = result.data.error || "Something went wrong. Please try again.";
        }
      })
      .catch(function () {
        live.className = "status error-summary";
        live.textContent = "The comment could not be sent. Your text is still here: please try again.";
      })
      .then(function () { button.disabled = false; });
  });
})();
