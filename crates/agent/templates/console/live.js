// Nightshift console: live updates. Listens to /console/events (server-sent events) and, when
// something changed, fetches this page again and swaps in its live part (#live), keeping what
// the reader is doing: a reason being typed, folded sections opened, a message just shown.
// Without this script the pages work as they are and a reload shows the news.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!live || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var only = live.getAttribute("data-incident");
  var source = "/console/events" + (only ? "?incident=" + encodeURIComponent(only) : "");
  var timer = null;
  var busy = false;
  var again = false;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function clock() {
    return new Date().toLocaleTimeString();
  }

  // The forms a reader fills in: the approval's answer and the note.
  var KEPT = ["answer", "note-form"];

  // The reader is filling `form` in: text typed, or one of its fields focused.
  function filling(form) {
    var text = form.querySelector("textarea");
    return (text && text.value !== "") || form.contains(document.activeElement);
  }

  function swap(fresh) {
    var open = {};
    live.querySelectorAll("details[open][id]").forEach(function (d) {
      open[d.id] = true;
    });
    KEPT.forEach(function (id) {
      var mine = document.getElementById(id);
      var theirs = fresh.querySelector("#" + id);
      if (mine && theirs && filling(mine)) {
        theirs.replaceWith(mine);
      }
    });
    var flash = document.getElementById("flash");
    if (flash && !fresh.querySelector("#flash")) {
      fresh.insertBefore(flash, fresh.firstChild);
    }
    live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
    live.querySelectorAll("details[id]").forEach(function (d) {
      if (open[d.id]) {
        d.open = true;
      }
    });
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", redirect: "manual" })
      .then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 0) {
          // The session ended: a reload goes to the sign-in page and back here.
          window.location.reload();
          return null;
        }
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.text();
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        if (fresh) {
          swap(fresh);
          document.title = doc.title;
          say("Updated " + clock());
        }
      })
      .catch(function (e) {
        say("Update failed (" + e.message + "); reload to see the latest");
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          soon();
        }
      });
  }

  function soon() {
    if (timer === null) {
      timer = window.setTimeout(function () {
        timer = null;
        refresh();
      }, 250);
    }
  }

  var events = new EventSource(source);
  events.addEventListener("open", function () {
    say("Live");
  });
  events.addEventListener("change", soon);
  events.addEventListener("error", function () {
    say("Live updates paused; retrying");
  });
})();
