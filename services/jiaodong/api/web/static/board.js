// The board's live updates and actions. Plain JavaScript, no build step, nothing downloaded.
// Server-sent events say which delegation changed; the page fetches again the part it shows.
(function () {
  "use strict";
  var body = document.body;
  var page = body.dataset.page;
  var fragment = body.dataset.fragment;
  var current = body.dataset.id;
  var live = document.getElementById("live");
  var liveState = document.getElementById("live-state");
  var result = document.getElementById("action-result");
  var busy = false;
  var again = false;
  var awaiting = null; // the event kind an action of this page waits for

  function refresh() {
    if (!live || !fragment) return;
    if (busy) { again = true; return; }
    busy = true;
    fetch(fragment, { credentials: "same-origin", headers: { accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) live.innerHTML = html; })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; setTimeout(refresh, 100); }
      });
  }

  var timer = null;
  function soon() {
    if (timer) return;
    timer = setTimeout(function () { timer = null; refresh(); }, 150);
  }

  function setLive(on) {
    if (!liveState) return;
    liveState.textContent = on ? liveState.dataset.on : liveState.dataset.off;
    liveState.className = on ? "live on" : "live off";
    body.dataset.live = on ? "1" : "0";
  }

  if (page && window.EventSource) {
    var source = new EventSource("/events");
    source.onopen = function () { setLive(true); };
    source.onerror = function () { setLive(false); };
    source.addEventListener("behind", function () { soon(); });
    source.addEventListener("change", function (e) {
      var change = JSON.parse(e.data);
      if (page === "board") { soon(); return; }
      if (change.id !== current) return;
      soon();
      if (awaiting && change.event === awaiting && result) {
        result.textContent = result.dataset.arrived;
        result.className = "arrived";
        awaiting = null;
      }
    });
    // Time passes without changes too (limits run out): a slow refresh besides the events.
    setInterval(refresh, 30000);
  }

  // Actions: a confirmation on the page, then a POST the board's own script alone can send.
  var confirmBox = document.getElementById("confirm");
  var pending = null;
  document.querySelectorAll("form.action button.start").forEach(function (button) {
    button.addEventListener("click", function () {
      var form = button.closest("form");
      if (!form.reportValidity()) return;
      pending = form;
      document.getElementById("confirm-text").textContent = form.dataset.confirm;
      confirmBox.hidden = false;
    });
  });
  if (confirmBox) {
    document.getElementById("confirm-no").addEventListener("click", function () {
      pending = null;
      confirmBox.hidden = true;
    });
    document.getElementById("confirm-yes").addEventListener("click", function () {
      var form = pending;
      pending = null;
      confirmBox.hidden = true;
      if (!form) return;
      var action = form.dataset.action;
      // What the page waits for: the event the step adds to the history (a note is the
      // coordinator's own record: it is there once the answer is).
      awaiting = { escalate: "ESCALATED", reroute: "REROUTED", urge: "URGED" }[action] || null;
      result.textContent = result.dataset.sent;
      result.className = "sent";
      fetch("/d/" + encodeURIComponent(current) + "/" + action, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "x-jd-board-action": "1",
          accept: "application/json",
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams(new FormData(form)).toString(),
      })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (!answer.ok) {
            awaiting = null;
            result.textContent = result.dataset.refused + "：" + answer.error;
            result.className = "refused";
          } else {
            // A further step from this page is a new request, not a repeat of this one.
            form.querySelector("[name=request_id]").value =
              action + "-" + Date.now().toString(16) + Math.random().toString(16).slice(2, 10);
          }
          if (answer.ok && !awaiting) {
            result.textContent = result.dataset.arrived;
            result.className = "arrived";
          }
          refresh();
        })
        .catch(function (err) {
          awaiting = null;
          result.textContent = result.dataset.refused + "：" + err;
          result.className = "refused";
        });
    });
  }

  // Parked messages: retry or discard, with a reason and a confirmation (the browser's own).
  document.querySelectorAll("form.parked-action button").forEach(function (button) {
    button.addEventListener("click", function () {
      var form = button.closest("form");
      if (!form.reportValidity() || !window.confirm(button.dataset.confirm)) return;
      result.textContent = result.dataset.sent;
      result.className = "sent";
      var where = form.dataset.city ? "?city=" + encodeURIComponent(form.dataset.city) : "";
      fetch("/parked/" + form.dataset.parked + "/" + button.dataset.action + where, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "x-jd-board-action": "1",
          accept: "application/json",
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams(new FormData(form)).toString(),
      })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          result.textContent = (answer.ok ? result.dataset.arrived : result.dataset.refused) +
            "：" + (answer.outcome || answer.error || "");
          result.className = answer.ok ? "arrived" : "refused";
        });
    });
  });
})();
