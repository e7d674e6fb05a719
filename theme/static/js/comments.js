/* Comment form, enhanced: send it without leaving the page.
   Without JavaScript the form posts normally and the service answers with
   pages; with it, the same endpoint answers JSON (202 queued, 400 with a
   message per field) and nothing the reader typed is lost on error. */
(function () {
  "use strict";
  var form = document.getElementById("comment-form");
  if (!form || !window.fetch || !window.FormData) return;
  var live = document.createElement("div");
  live.setAttribute("role", "status");
  form.parentNode.insertBefore(live, form);

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
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin"
    })
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
