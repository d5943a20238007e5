// d4-web page behaviour. No framework; everything is progressive enhancement.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function on(sel, ev, fn) {
    document.addEventListener(ev, function (e) {
      var t = e.target.closest ? e.target.closest(sel) : null;
      if (t) fn(e, t);
    });
  }

  // Confirmation before destructive actions.
  on("form[data-confirm]", "submit", function (e, f) {
    if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
  });

  // Generate a uuid into a field.
  on("[data-gen-uuid]", "click", function (e, b) {
    e.preventDefault();
    fetch("/generate_uuid", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        var f = document.getElementById(b.getAttribute("data-gen-uuid"));
        if (f) f.value = j.uuid;
      });
  });

  // Show the extended-type name field only for types 2 and 254.
  function syncMeta(input) {
    var box = document.getElementById(input.getAttribute("data-meta-box"));
    if (!box) return;
    var v = String(input.value).trim();
    box.classList.toggle("hidden", !(v === "254" || v === "2"));
  }
  on("[data-meta-box]", "input", function (e, i) { syncMeta(i); });
  document.querySelectorAll("[data-meta-box]").forEach(syncMeta);

  // Add / remove sensor uuid rows.
  on("[data-add-row]", "click", function (e, b) {
    e.preventDefault();
    var list = document.getElementById(b.getAttribute("data-add-row"));
    if (!list) return;
    var row = document.createElement("div");
    row.className = "row";
    row.style.marginBottom = "6px";
    var inp = document.createElement("input");
    inp.className = "uuid";
    inp.name = "sensor_" + Math.random().toString(16).slice(2);
    inp.placeholder = "Sensor uuid";
    var del = document.createElement("button");
    del.className = "btn sm danger";
    del.type = "button";
    del.setAttribute("data-remove-row", "");
    del.textContent = "Remove";
    row.appendChild(inp);
    row.appendChild(del);
    list.appendChild(row);
    inp.focus();
  });
  on("[data-remove-row]", "click", function (e, b) {
    e.preventDefault();
    var r = b.closest(".row");
    if (r) r.remove();
  });

  // Live SVG charts.
  document.querySelectorAll("[data-refresh-svg]").forEach(function (box) {
    var url = box.getAttribute("data-refresh-svg");
    setInterval(function () {
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (t) { if (t) box.innerHTML = t; });
    }, 4000);
  });

  // Live analyzer queue lengths on the server management page.
  document.querySelectorAll("[data-live-lengths]").forEach(function (box) {
    var url = box.getAttribute("data-live-lengths");
    setInterval(function () {
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (m) {
          if (!m) return;
          box.querySelectorAll("tr[data-queue]").forEach(function (tr) {
            var n = m[tr.getAttribute("data-queue")];
            var b = tr.querySelector(".queue-length");
            if (b && n !== undefined) b.textContent = String(n);
          });
        });
    }, 4000);
  });

  // Sensor description editor.
  on("[data-edit-toggle]", "click", function (e, b) {
    e.preventDefault();
    var f = document.getElementById(b.getAttribute("data-edit-toggle"));
    if (f) f.classList.toggle("hidden");
  });
  on("form[data-xhr-description]", "submit", function (e, f) {
    e.preventDefault();
    var body = new URLSearchParams(new FormData(f));
    fetch(f.action, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        var t = document.getElementById(f.getAttribute("data-xhr-description"));
        if (t) t.textContent = f.elements.description.value;
        f.classList.add("hidden");
      })
      .catch(function (err) { window.alert("Could not save: " + err.message); });
  });

  // Queue sample preview.
  function loadSample(b) {
    var dlg = document.getElementById("sample-dialog");
    var pre = document.getElementById("sample-pre");
    var title = document.getElementById("sample-title");
    var len = document.getElementById("sample-len");
    if (!dlg || !pre) return;
    dlg.setAttribute("data-url", b.getAttribute("data-sample"));
    title.textContent = b.getAttribute("data-sample-title") || "";
    var url = b.getAttribute("data-sample") + "&max_line_len=" + encodeURIComponent(len ? len.value : "3000");
    pre.textContent = "Loading…";
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) { pre.textContent = j || "(empty queue)"; });
    if (!dlg.open) dlg.showModal();
  }
  on("[data-sample]", "click", function (e, b) { e.preventDefault(); loadSample(b); });
  on("#sample-reload", "click", function (e) {
    e.preventDefault();
    var dlg = document.getElementById("sample-dialog");
    loadSample({ getAttribute: function (k) {
      return k === "data-sample" ? dlg.getAttribute("data-url") : document.getElementById("sample-title").textContent;
    } });
  });
  on("[data-close-dialog]", "click", function (e, b) { e.preventDefault(); b.closest("dialog").close(); });

  // Whois panel.
  on("[data-whois]", "click", function (e, b) {
    e.preventDefault();
    var out = document.getElementById("whois-out");
    if (!out) return;
    var box = document.getElementById("whois-box");
    if (box) box.classList.remove("hidden");
    out.textContent = "Loading…";
    fetch("/whois_data?ip=" + encodeURIComponent(b.getAttribute("data-whois")), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) { out.textContent = j || "(no whois data)"; });
  });

  // Client-side table filter.
  on("[data-filter-table]", "input", function (e, i) {
    var t = document.getElementById(i.getAttribute("data-filter-table"));
    if (!t) return;
    var q = i.value.toLowerCase();
    t.querySelectorAll("tbody tr").forEach(function (tr) {
      tr.style.display = tr.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none";
    });
  });
})();

// Sortable tables: a click on a `th[data-sort-col]` of a `table[data-sortable]` orders the
// rows by that column (numbers as numbers, the rest as text), again to reverse.
(function () {
  "use strict";
  function key(tr, i) {
    var td = tr.children[i];
    if (!td) return "";
    return (td.getAttribute("data-sort") || td.textContent).trim().toLowerCase();
  }
  function compare(a, b) {
    var x = Number(a), y = Number(b);
    if (a !== "" && b !== "" && !isNaN(x) && !isNaN(y)) return x - y;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  document.addEventListener("click", function (e) {
    var th = e.target.closest ? e.target.closest("table[data-sortable] th[data-sort-col]") : null;
    if (!th) return;
    var table = th.closest("table");
    var body = table.tBodies[0];
    if (!body) return;
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var rows = Array.prototype.filter.call(body.rows, function (r) { return r.cells.length > 1; });
    rows.sort(function (a, b) { return dir * compare(key(a, col), key(b, col)); });
    rows.forEach(function (r) { body.appendChild(r); });
  });
  // A page-size choice applies at once.
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-autosubmit]") && e.target.form) e.target.form.submit();
  });
})();
