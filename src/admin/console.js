// The admin console's one script, served from the binary at /admin/assets/console.js. Every
// page works without it; with it, a run's page keeps its figures live: it asks the run's
// progress route every 2 seconds until the run is finished.
(function () {
  "use strict";
  var run = document.querySelector("[data-progress-url]");
  if (!run || run.getAttribute("data-finished") === "true") {
    return;
  }
  var url = run.getAttribute("data-progress-url");
  var bar = run.querySelector("progress");
  var status = run.querySelector("[data-run-status]");
  var live = run.querySelector("[data-live]");
  if (live) {
    live.hidden = false;
  }

  function show(p) {
    var names = ["sent", "skipped", "deferred", "failed", "bounced", "uncertain", "pending", "total", "done"];
    names.forEach(function (name) {
      run.querySelectorAll('[data-figure="' + name + '"]').forEach(function (el) {
        el.textContent = String(p[name]);
        var box = el.closest(".figure");
        if (box) {
          box.classList.toggle("some", p[name] > 0);
        }
      });
    });
    if (bar) {
      bar.max = Math.max(p.total, 1);
      bar.value = p.done;
      bar.textContent = p.done + " / " + p.total;
    }
    if (status) {
      status.textContent = p.status_label;
      status.className = "tag run-" + p.status;
    }
    if (p.finished) {
      run.setAttribute("data-finished", "true");
      var line = run.querySelector("[data-live-line]");
      if (line) {
        line.hidden = true;
      }
      var done = run.querySelector("[data-done-note]");
      if (done) {
        done.hidden = false;
      }
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.json();
      })
      .then(function (p) {
        show(p);
        if (!p.finished) {
          window.setTimeout(poll, 2000);
        }
      })
      .catch(function () {
        // Logged out or offline: stop; the page's refresh link still works.
        if (live) {
          live.hidden = true;
        }
      });
  }

  window.setTimeout(poll, 2000);
})();
