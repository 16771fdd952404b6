// The scaling lab's page: renders /api/events (state about once a second, and event lines), and posts the controls
// with the token from its own URL. No build step; uPlot (vendored) draws the timeline.
(function () {
  "use strict";
  var token = new URLSearchParams(location.search).get("token") || "";
  var $ = function (id) { return document.getElementById(id); };
  var WINDOW_S = 300;
  var last = null;            // the last state rendered
  var movedAt = {};           // partition -> time it last changed owner (ms)
  var history = [];           // [{t, rowsPerS: {member: r}, lag: {p: n}, members, owners, partitions}]
  var marks = [];             // [{t, text}] rebalances, for the timeline
  var charts = {};

  function short(id) {
    if (!id) return "-";
    var tail = id.slice(-8);
    return id.length > 8 ? "…-" + tail : id;
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function post(path, body) {
    $("refusal").textContent = "";
    return fetch("/api/" + path, {
      method: "POST",
      headers: { "content-type": "application/json", "x-lab-token": token },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) $("refusal").textContent = r.status + ": " + (j.error || "refused");
      }, function () {
        if (!r.ok) $("refusal").textContent = r.status + ": refused";
      });
    }).catch(function (e) { $("refusal").textContent = "the lab does not answer: " + e; });
  }

  function number(id) { return Number($(id).value); }

  $("c-add").addEventListener("click", function () { post("consumers/add"); });
  $("c-remove").addEventListener("click", function () { post("consumers/remove"); });
  $("c-set").addEventListener("click", function () { post("consumers/set", { count: number("c-count") }); });
  $("p-set").addEventListener("click", function () { post("partitions", { count: number("p-count") }); });
  $("r-start").addEventListener("click", function () { post("producer/rate", { rate: number("r-rate") }); });
  $("r-stop").addEventListener("click", function () { post("producer/stop"); });
  $("f-postgres").addEventListener("click", function () { post("faults/postgres", { seconds: number("f-seconds") }); });
  $("f-broker").addEventListener("click", function () { post("faults/broker"); });
  $("a-on").addEventListener("click", function () { post("autoscaler/on", { threshold: number("a-threshold") }); });
  $("a-off").addEventListener("click", function () { post("autoscaler/off"); });
  $("board").addEventListener("click", function (e) {
    var b = e.target.closest("button[data-act]");
    if (b) post("members/" + b.dataset.act, { client_id: b.dataset.clientId });
  });

  function renderBoard(s) {
    var board = $("board");
    board.textContent = "";
    var running = {};
    (s.fleet || []).forEach(function (f) { if (f.client_id) running[f.client_id] = f; });
    s.members.forEach(function (m) {
      var col = el("div", { "class": "member" + (m.idle ? " idle" : ""), "data-client-id": m.client_id });
      col.appendChild(el("div", { "class": "role" }, m.idle ? "idle" : "owner"));
      col.appendChild(el("div", { "class": "id", title: m.client_id }, m.client_id));
      var tiles = el("div", { "class": "tiles" });
      m.partitions.forEach(function (p) {
        var recent = movedAt[p] && Date.now() - movedAt[p] < 5000;
        tiles.appendChild(el("div", { "class": "tile" + (recent ? " moved" : ""), "data-partition": String(p) }, String(p)));
      });
      col.appendChild(tiles);
      col.appendChild(el("div", {}, m.rows + " rows stored"));
      if (running[m.client_id] || s.stack === "compose") {
        var acts = el("div", { "class": "acts" });
        acts.appendChild(el("button", { type: "button", "data-act": "stop", "data-client-id": m.client_id }, "stop (SIGTERM)"));
        acts.appendChild(el("button", { type: "button", "data-act": "kill", "data-client-id": m.client_id }, "kill (SIGKILL)"));
        col.appendChild(acts);
      }
      board.appendChild(col);
    });
    var orphans = s.partitions.filter(function (p) { return !p.owner; });
    if (orphans.length) {
      var col = el("div", { "class": "member", id: "unowned" });
      col.appendChild(el("div", { "class": "role" }, "no owner"));
      var tiles = el("div", { "class": "tiles" });
      orphans.forEach(function (p) {
        tiles.appendChild(el("div", { "class": "tile orphan", "data-partition": String(p.partition) }, String(p.partition)));
      });
      col.appendChild(tiles);
      board.appendChild(col);
    }
    $("group-state").textContent = s.group_state ? "(" + s.protocol + ", " + s.group_state + ")" : "";
  }

  function renderReconciliation(s) {
    var r = s.reconciliation;
    var rows = [
      ["acked by the lab's producer (stopped runs)", r.acked],
      ["records in the topic (log ends)", r.log_end],
      ["committed offsets (sum)", r.committed],
      ["rows in orders", r.rows + (r.rows_counted_at_ms ? " (counted " + new Date(r.rows_counted_at_ms).toLocaleTimeString() + ")" : "")],
      ["dead letters", r.dead_letters],
      ["duplicate order_ids", r.duplicates === null ? "(no table yet)" : r.duplicates],
      ["drained", r.drained ? "yes" : "no"],
      ["acked = rows + dead letters", r.equal ? "yes" : (r.drained && !s.producer.running ? "no" : "(not drained)")]
    ];
    var t = $("recon");
    t.textContent = "";
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("td", {}, row[0]));
      var td = el("td", {}, String(row[1]));
      if (row[0] === "duplicate order_ids") td.className = row[1] === 0 ? "good" : "bad";
      tr.appendChild(td);
      t.appendChild(tr);
    });
    var body = $("offsets").querySelector("tbody");
    body.textContent = "";
    s.partitions.forEach(function (p) {
      var tr = el("tr");
      [p.partition, short(p.owner), p.committed, p.log_end, p.lag].forEach(function (v) { tr.appendChild(el("td", {}, String(v))); });
      body.appendChild(tr);
    });
  }

  function renderHeader(s) {
    $("what").textContent = s.stack + " stack · topic " + s.topic + " · group " + s.group;
    var down = $("down");
    down.hidden = !s.down.length;
    down.textContent = s.down.map(function (d) { return d + " is down"; }).join(" · ");
    var busy = $("busy");
    busy.hidden = !s.busy;
    busy.textContent = s.busy ? "running: " + s.busy : "";
    $("c-running").textContent = (s.fleet || []).length + " running";
    var p = s.producer;
    $("r-state").textContent = p.running ? "running at " + p.rate + "/s" : "stopped";
    var a = s.autoscaler || {};
    var text = a.on ? "on: threshold " + a.lag_threshold + " per consumer, every " + a.polling_interval_s + " s" : "off";
    if (a.on && a.last) {
      text += a.last.held ? "; held: " + a.last.held
        : "; last: " + a.last.current + " → " + a.last.desired + " (lag " + a.last.lag + ", " + a.last.reason + ")";
    }
    $("a-state").textContent = text;
    if (document.activeElement !== $("p-count")) $("p-count").value = String(Math.max(1, s.partitions.length + 1));
  }

  function sample(s) {
    var point = { t: s.at_ms / 1000, rowsPerS: {}, lag: {}, members: s.members.length,
      owners: s.members.filter(function (m) { return !m.idle; }).length, partitions: s.partitions.length };
    s.partitions.forEach(function (p) { point.lag[p.partition] = p.lag; });
    s.members.forEach(function (m) { point.rowsPerS[m.client_id] = m.committed_per_s; });
    history.push(point);
    while (history.length && history[0].t < point.t - WINDOW_S) history.shift();
    while (marks.length && marks[0].t < point.t - WINDOW_S) marks.shift();
  }

  function marksPlugin() {
    return { hooks: { draw: [function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#e8710a";
      ctx.fillStyle = "#e8710a";
      ctx.font = (10 * devicePixelRatio) + "px sans-serif";
      marks.forEach(function (m) {
        var x = Math.round(u.valToPos(m.t, "x", true));
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.fillText(m.label, x + 3, u.bbox.top + 10 * devicePixelRatio);
      });
      ctx.restore();
    }] } };
  }

  var COLOURS = ["#3367d6", "#2e7d4f", "#e8710a", "#b3261e", "#8e24aa", "#00838f", "#6d4c41", "#c2185b"];

  function chart(id, title, keys, label, value) {
    var xs = history.map(function (p) { return p.t; });
    var data = [xs].concat(keys.map(function (k) { return history.map(function (p) { return value(p, k); }); }));
    var sig = keys.join("|");
    var box = $(id);
    var width = Math.max(300, box.clientWidth || 800);
    if (!charts[id] || charts[id].sig !== sig) {
      if (charts[id]) charts[id].plot.destroy();
      var series = [{}].concat(keys.map(function (k, i) {
        return { label: label(k), stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true };
      }));
      var plot = new uPlot({ title: title, width: width, height: 170, series: series, plugins: [marksPlugin()],
        scales: { x: { time: true } }, axes: [{}, { size: 60 }] }, data, box);
      charts[id] = { plot: plot, sig: sig };
    } else {
      charts[id].plot.setData(data);
    }
  }

  function renderTimeline() {
    if (typeof uPlot === "undefined" || history.length < 2) return;
    var members = {};
    var partitions = {};
    history.forEach(function (p) {
      Object.keys(p.rowsPerS).forEach(function (m) { members[m] = true; });
      Object.keys(p.lag).forEach(function (q) { partitions[q] = true; });
    });
    chart("chart-rows", "orders committed per second, per member", Object.keys(members).sort(), short,
      function (p, k) { return k in p.rowsPerS ? p.rowsPerS[k] : null; });
    chart("chart-lag", "lag per partition (log end − committed)", Object.keys(partitions).sort(function (a, b) { return a - b; }),
      function (k) { return "partition " + k; }, function (p, k) { return k in p.lag ? p.lag[k] : null; });
    chart("chart-members", "members, owners, partitions", ["members", "owners", "partitions"],
      function (k) { return k; }, function (p, k) { return p[k]; });
  }

  function onState(s) {
    if (last) {
      var was = {};
      last.members.forEach(function (m) { m.partitions.forEach(function (p) { was[p] = m.client_id; }); });
      s.members.forEach(function (m) {
        m.partitions.forEach(function (p) { if (was[p] !== m.client_id) movedAt[p] = Date.now(); });
      });
    }
    last = s;
    sample(s);
    renderHeader(s);
    renderBoard(s);
    renderReconciliation(s);
    renderTimeline();
  }

  function onLine(line) {
    var li = el("li", {}, new Date(line.at_ms || Date.now()).toLocaleTimeString() + "  " + line.text);
    $("lines").prepend(li);
    while ($("lines").children.length > 200) $("lines").lastChild.remove();
    var moved = /^partition (\d+) (moved|assigned)/.exec(line.text);
    var stalled = /^partition (\d+) stalled ([\d.]+) s/.exec(line.text);
    if (moved) marks.push({ t: (line.at_ms || Date.now()) / 1000, label: "p" + moved[1] });
    if (stalled) marks.push({ t: (line.at_ms || Date.now()) / 1000, label: "p" + stalled[1] + " stalled " + stalled[2] + " s" });
    // Autoscaler decisions and faults carry their own label.
    if (line.mark) marks.push({ t: (line.at_ms || Date.now()) / 1000, label: line.mark });
  }

  function connect() {
    var source = new EventSource("/api/events");
    source.addEventListener("open", function () { $("conn").textContent = "live"; $("conn").className = "pill ok"; });
    source.addEventListener("error", function () {
      // EventSource reconnects by itself (the lab restarted, or the network blinked); should the browser give up
      // (the stream closed for good), the page opens a new one.
      $("conn").textContent = "reconnecting…";
      $("conn").className = "pill down";
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
    });
    source.addEventListener("state", function (e) { onState(JSON.parse(e.data)); });
    source.addEventListener("line", function (e) { onLine(JSON.parse(e.data)); });
  }

  connect();
})();
