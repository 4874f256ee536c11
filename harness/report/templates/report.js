/* edgelab report: sortable, filterable, paged tables drawn from the embedded JSON, and the
   compat-matrix reason panel. Data only ever reaches the DOM through textContent/attributes:
   device and model names are untrusted, so nothing here builds HTML from strings. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("edgelab-data").textContent);
  var PAGE_SIZES = [25, 50, 200, 1000];
  var MAX_OPTIONS = 400;  // a drop-down with more values than this is no help: use the search box

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) { Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); }); }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function fmt(value, col) {
    if (value === null || value === undefined || value === "") { return "–"; }
    if (col.type === "num") { return value.toFixed(col.digits); }
    if (col.type === "ratio") { return value.toFixed(col.digits) + "×"; }
    if (col.type === "pct") { return (value > 0 ? "+" : "") + (value * 100).toFixed(col.digits) + "%"; }
    if (col.type === "box") { return value[2] === null ? "–" : value[2].toFixed(3) + " ms" + (value[7] ? " (tool mean)" : ""); }
    if (col.type === "flags") { return value.join(", ") || "–"; }
    return String(value);
  }

  function sortValue(value, col) {
    if (col.type === "box") { return value ? value[2] : null; }
    if (col.type === "flags") { return value.length; }
    return value;
  }

  function compare(a, b) {
    if (a === b) { return 0; }
    if (a === null || a === undefined || a === "") { return 1; }   // missing values sort last
    if (b === null || b === undefined || b === "") { return -1; }
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    return String(a).localeCompare(String(b), undefined, {numeric: true});
  }

  // a tool's summary (value[7] = 1): min, mean, max and nothing else, drawn and named as such
  function boxText(value) {
    if (value[7]) {
      return "tool summary, no samples: min " + value[0] + " – max " + value[4] + " ms, mean " + value[2] + " ms";
    }
    return "whiskers " + value[0] + " – " + value[4] + " ms · quartiles " + value[1] + " – " +
      value[3] + " ms · median " + value[2] + " ms";
  }

  function boxCell(value) {
    var wrap = el("div", {"class": value && value[7] ? "box tool" : "box"});
    if (!value || value[2] === null || value[5] === null || value[6] === null) { wrap.textContent = "–"; return wrap; }
    var low = value[5], span_ = value[6] - value[5] || 1;
    function pct(v) { return Math.max(0, Math.min(100, (v - low) / span_ * 100)) + "%"; }
    function span(cls, from, to) {
      var s = el("span", {"class": cls});
      s.style.left = pct(from);
      if (to !== null) { s.style.width = "calc(" + pct(to) + " - " + pct(from) + ")"; }
      wrap.appendChild(s);
    }
    span("whisker", value[0], value[4]);
    if (value[1] !== null && value[3] !== null) { span("iqr", value[1], value[3]); }
    span(value[7] ? "mean" : "med", value[2], null);
    wrap.title = boxText(value);
    return wrap;
  }

  function cell(value, col) {
    var td = el("td");
    if (col.type === "box") { td.appendChild(boxCell(value)); return td; }
    if (col.type === "flags") {
      (value || []).forEach(function (f) { td.appendChild(el("span", {"class": "flag flag-" + f}, f)); });
      return td;
    }
    if (col.type === "badge" && value) {
      td.appendChild(el("span", {"class": "verdict v-" + String(value).replace(/ /g, "-")}, value));
      return td;
    }
    td.textContent = fmt(value, col);
    if (col.type !== "text") { td.className = "num"; }
    if (col.type === "pct" && value) { td.className += value > 0 ? " pos" : " neg"; }
    return td;
  }

  function Table(root, spec) {
    this.root = root;
    this.spec = spec;
    this.cols = spec.columns;
    this.visible = [];
    this.cols.forEach(function (c, i) { if (!c.detail) { this.visible.push(i); } }, this);
    this.filters = {};
    this.search = "";
    this.sort = null;
    this.pageSize = 50;
    this.page = 0;
    this.open = {};
    this.text = null;
    this.bestAt = spec.best ? this.cols.map(function (c) { return c.key; }).indexOf(spec.best.key) : -1;
    this.build();
    this.render();
  }

  Table.prototype.build = function () {
    var self = this, name = this.root.getAttribute("data-table");
    var controls = el("div", {"class": "controls"});
    var search = el("input", {"type": "search", "placeholder": "search rows", "aria-label": "search " + name + " rows"});
    search.addEventListener("input", function () { self.search = search.value.toLowerCase(); self.page = 0; self.render(); });
    controls.appendChild(search);
    this.cols.forEach(function (col, i) {
      if (!col.filter) { return; }
      var values = {};
      self.spec.rows.forEach(function (r) { if (r[i] !== null && r[i] !== "") { values[r[i]] = true; } });
      var keys = Object.keys(values).sort(function (a, b) { return compare(a, b); });
      if (keys.length < 2 || keys.length > MAX_OPTIONS) { return; }
      var label = el("label", null, col.label + " ");
      var select = el("select", {"data-col": col.key});
      select.appendChild(el("option", {"value": ""}, "all"));
      keys.forEach(function (k) { select.appendChild(el("option", {"value": k}, k)); });
      select.addEventListener("change", function () {
        if (select.value === "") { delete self.filters[i]; } else { self.filters[i] = select.value; }
        self.page = 0; self.render();
      });
      label.appendChild(select);
      controls.appendChild(label);
    });
    var sizeLabel = el("label", null, "rows per page ");
    var size = el("select", {"aria-label": "rows per page"});
    PAGE_SIZES.forEach(function (n) {
      var o = el("option", {"value": String(n)}, String(n));
      if (n === self.pageSize) { o.selected = true; }
      size.appendChild(o);
    });
    size.addEventListener("change", function () { self.pageSize = Number(size.value); self.page = 0; self.render(); });
    sizeLabel.appendChild(size);
    controls.appendChild(sizeLabel);
    this.root.appendChild(controls);

    var wrap = el("div", {"class": "scroll"});
    var table = el("table");
    var head = el("tr");
    this.visible.forEach(function (i) {
      var col = self.cols[i];
      var th = el("th", {"scope": "col", "aria-sort": "none"});
      if (col.title) { th.title = col.title; }
      var button = el("button", {"type": "button"}, col.label);
      button.addEventListener("click", function () { self.toggleSort(i, th); });
      th.appendChild(button);
      head.appendChild(th);
    });
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    this.tbody = el("tbody");
    table.appendChild(this.tbody);
    wrap.appendChild(table);
    this.root.appendChild(wrap);
    this.head = head;

    var pager = el("div", {"class": "pager"});
    this.prev = el("button", {"type": "button"}, "‹ previous");
    this.next = el("button", {"type": "button"}, "next ›");
    this.status = el("span", {"class": "count", "aria-live": "polite"});
    this.prev.addEventListener("click", function () { self.page -= 1; self.render(); });
    this.next.addEventListener("click", function () { self.page += 1; self.render(); });
    pager.appendChild(this.prev);
    pager.appendChild(this.status);
    pager.appendChild(this.next);
    this.root.appendChild(pager);
    this.tbody.addEventListener("click", function (e) { self.onRow(e); });
    this.tbody.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); self.onRow(e); }
    });
  };

  Table.prototype.toggleSort = function (i, th) {
    var dir = this.sort && this.sort.col === i && this.sort.dir === 1 ? -1 : 1;
    this.sort = {col: i, dir: dir};
    Array.prototype.forEach.call(this.head.children, function (h) { h.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    this.page = 0;
    this.render();
  };

  Table.prototype.rowText = function (r) {
    if (!this.text) {  // built on first search only: most readers never type
      var cols = this.cols;
      this.text = this.spec.rows.map(function (row) {
        return row.map(function (v, i) { return cols[i].type === "box" ? "" : fmt(v, cols[i]); }).join(" ").toLowerCase();
      });
    }
    return this.text[r];
  };

  Table.prototype.selection = function () {
    var self = this, rows = this.spec.rows, idx = [];
    for (var r = 0; r < rows.length; r++) {
      var keep = true;
      for (var c in this.filters) {
        if (String(rows[r][c]) !== this.filters[c]) { keep = false; break; }
      }
      if (keep && this.search && this.rowText(r).indexOf(this.search) < 0) { keep = false; }
      if (keep) { idx.push(r); }
    }
    if (this.sort) {
      var c = this.sort.col, dir = this.sort.dir, col = this.cols[c];
      idx.sort(function (a, b) {
        var va = sortValue(rows[a][c], col), vb = sortValue(rows[b][c], col);
        var missingA = va === null || va === undefined, missingB = vb === null || vb === undefined;
        if (missingA || missingB) { return missingA - missingB; }  // missing last either way
        return dir * compare(va, vb) || a - b;
      });
    }
    return idx;
  };

  Table.prototype.render = function () {
    var self = this, idx = this.selection(), rows = this.spec.rows;
    var pages = Math.max(1, Math.ceil(idx.length / this.pageSize));
    this.page = Math.max(0, Math.min(this.page, pages - 1));
    var start = this.page * this.pageSize, end = Math.min(idx.length, start + this.pageSize);
    var frag = document.createDocumentFragment();
    for (var k = start; k < end; k++) {
      var r = idx[k];
      var tr = el("tr", {"class": "row", "tabindex": "0", "data-row": String(r), "aria-expanded": this.open[r] ? "true" : "false"});
      this.visible.forEach(function (i) {
        var td = tr.appendChild(cell(rows[r][i], self.cols[i]));
        // a table that names a winner per row (engines: spec.best) marks the winner's cell
        if (self.bestAt >= 0 && self.cols[i].key === self.spec.best.prefix + rows[r][self.bestAt]) {
          td.className += " best";
          td.title = "fastest";
        }
      });
      frag.appendChild(tr);
      if (this.open[r]) { frag.appendChild(this.detail(r)); }
    }
    if (!idx.length) {
      frag.appendChild(el("tr")).appendChild(el("td", {"colspan": String(this.visible.length), "class": "empty"},
        rows.length ? "no rows match the filters" : "no data in this run"));
    }
    this.tbody.textContent = "";
    this.tbody.appendChild(frag);
    this.status.textContent = idx.length ? (start + 1) + "–" + end + " of " + idx.length + " rows" +
      (idx.length < rows.length ? " (" + rows.length + " before filtering)" : "") : "0 rows";
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
    this.root.setAttribute("data-shown", String(idx.length));
  };

  Table.prototype.detail = function (r) {
    var tr = el("tr", {"class": "detail"});
    var td = el("td", {"colspan": String(this.visible.length)});
    var dl = el("dl", {"class": "detail"});
    var row = this.spec.rows[r];
    this.cols.forEach(function (col, i) {
      dl.appendChild(el("dt", null, col.label));
      var dd = el("dd");
      if (col.type === "box" && row[i]) {
        dd.textContent = boxText(row[i]);
      } else {
        dd.textContent = fmt(row[i], col);
      }
      dl.appendChild(dd);
    });
    td.appendChild(dl);
    tr.appendChild(td);
    return tr;
  };

  Table.prototype.onRow = function (e) {
    var tr = e.target.closest ? e.target.closest("tr.row") : null;
    if (!tr) { return; }
    var r = Number(tr.getAttribute("data-row"));
    if (this.open[r]) { delete this.open[r]; } else { this.open[r] = true; }
    this.render();
    var again = this.tbody.querySelector('tr.row[data-row="' + r + '"]');
    if (again) { again.focus(); }
  };

  document.querySelectorAll(".etable").forEach(function (root) {
    var spec = DATA[root.getAttribute("data-table")];
    if (spec) { root.table = new Table(root, spec); } else { root.appendChild(el("p", {"class": "empty"}, "no data in this run")); }
  });

  // compat matrix: hover shows the title; click / Enter puts the same text in the live region
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest(".compat button.st") : null;
    if (!button) { return; }
    var section = button.closest("table").parentNode.nextElementSibling;
    document.querySelectorAll('.compat button[aria-pressed="true"]').forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
    button.setAttribute("aria-pressed", "true");
    if (section && section.classList.contains("compat-detail")) { section.textContent = button.title; }
  });
  document.documentElement.setAttribute("data-ready", "1");
}());
