// Live updates without a build step: the server sends an event when the queue changes, and the
// page swaps in the #live part of a fresh copy of itself.
(function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { headers: { "X-Console-Refresh": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) { live.innerHTML = fresh.innerHTML; document.body.dataset.refreshed = String(Date.now()); }
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  // A browser opens few connections per host: a hidden tab gives its stream back, and catches
  // up when it is shown again.
  var events = null;
  function listen() {
    if (events || document.hidden) return;
    events = new EventSource("/events");
    events.addEventListener("change", refresh);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { if (events) { events.close(); events = null; } }
    else { listen(); refresh(); }
  });
  listen();
})();
