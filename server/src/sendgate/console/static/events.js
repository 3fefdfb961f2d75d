// sendgate console: follow new events live on the events page.
// Polls /events.json every few seconds and prepends new rows; builds them with
// textContent only (event fields are never parsed as HTML).
(function () {
  "use strict";
  var table = document.getElementById("events");
  if (!table) { return; }
  var body = table.tBodies[0];
  var live = document.getElementById("live");
  var state = document.getElementById("live-state");
  var after = table.dataset.after || "";
  var MAX_ROWS = 500, PERIOD_MS = 2000, MAX_PERIOD_MS = 30000;
  var period = PERIOD_MS;

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function when(ms) {
    var d = new Date(ms);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + " UTC";
  }
  function cell(row, cls) {
    var td = row.insertCell(-1);
    if (cls) { td.className = cls; }
    return td;
  }
  function addRow(e) {
    var row = body.insertRow(0);
    row.dataset.id = e.id;
    row.className = "fresh";
    cell(row, "nowrap").textContent = when(e.at_unix_ms);
    var tag = document.createElement("span");
    tag.className = "kind-tag k-" + e.kind;
    tag.textContent = e.kind;
    cell(row).appendChild(tag);
    var acct = cell(row, "nowrap");
    if (e.account) {
      var a = document.createElement("a");
      a.className = "acct";
      a.href = "/account?id=" + encodeURIComponent(e.account);
      a.textContent = e.account;
      acct.appendChild(a);
    } else { acct.textContent = "—"; }
    var attrs = cell(row, "attrs");
    Object.keys(e.attributes).sort().forEach(function (k) {
      var s = document.createElement("span");
      var b = document.createElement("b");
      s.textContent = k + "=";
      var v = e.attributes[k];
      b.textContent = /_at$/.test(k) && /^\d{12,}$/.test(v) ? when(Number(v)) : v;
      s.appendChild(b);
      attrs.appendChild(s);
      attrs.appendChild(document.createTextNode(" "));
    });
  }
  function poll() {
    if (!live.checked) { setTimeout(poll, period); return; }
    var q = new URLSearchParams({ after: after, account: table.dataset.account || "" });
    (table.dataset.kind || "").split(",").forEach(function (k) { if (k) { q.append("kind", k); } });
    fetch("/events.json?" + q.toString(), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        var fresh = data.events.slice().reverse();
        fresh.forEach(addRow);
        if (fresh.length) {
          var none = document.getElementById("no-events");
          if (none) { none.remove(); }
        }
        while (body.rows.length > MAX_ROWS) { body.deleteRow(-1); }
        if (data.last_id) { after = data.last_id; }
        period = PERIOD_MS;
        state.textContent = "live · updated " + when(Date.now()).slice(11);
      })
      .catch(function (err) {
        period = Math.min(period * 2, MAX_PERIOD_MS);
        state.textContent = "paused: " + err.message + " (retrying)";
      })
      .then(function () { setTimeout(poll, period); });
  }
  setTimeout(poll, PERIOD_MS);
}());
