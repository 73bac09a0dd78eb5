/* The HTML report's behaviour: sortable leaderboard columns and the per-run sample browser. No dependencies. */
(function () {
  "use strict";

  function cellValue(cell, textual) {
    var text = (cell ? cell.textContent : "").trim();
    if (textual) return text === "" || text === "\u2013" ? null : text.toLowerCase();
    var match = text.replace(/^[<>]/, "").match(/^[+-]?\d+(\.\d+)?/);
    return match ? parseFloat(match[0]) : null;
  }

  function initSort(table) {
    var original = Array.prototype.slice.call(table.tBodies);
    var heads = table.querySelectorAll("th[data-col]");
    var active = null;
    var descending = false;
    Array.prototype.forEach.call(heads, function (head) {
      var button = head.querySelector("button.sort");
      if (!button) return;
      button.addEventListener("click", function () {
        var col = parseInt(head.getAttribute("data-col"), 10);
        var best = head.getAttribute("data-best");
        if (active === head) {
          descending = !descending;
        } else {
          descending = best === "high";
        }
        active = head;
        Array.prototype.forEach.call(heads, function (other) { other.removeAttribute("aria-sort"); });
        head.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var textual = best === "text";
        var blocks = original.slice().sort(function (a, b) {
          var x = cellValue(a.rows[0].cells[col], textual);
          var y = cellValue(b.rows[0].cells[col], textual);
          if (x === null || y === null) {
            if (x === y) return original.indexOf(a) - original.indexOf(b);
            return x === null ? 1 : -1;  // empty cells last, whichever the direction
          }
          if (x === y) return original.indexOf(a) - original.indexOf(b);
          var order = x < y ? -1 : 1;
          return descending ? -order : order;
        });
        blocks.forEach(function (block) { table.appendChild(block); });
      });
    });
  }

  var PAGE = 25;
  var LABELS = { correct: "correct", wrong: "wrong", scored: "scored", excluded: "not counted",
    pending: "pending", failed: "failed" };
  var ALWAYS = ["correct", "wrong", "failed", "pending"];

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function initBrowser(root, data) {
    var strings = data.strings;
    var runSelect = root.querySelector("select.run");
    var categorySelect = root.querySelector("select.category");
    var search = root.querySelector("input.search");
    var statusBox = root.querySelector(".status-filter");
    var list = root.querySelector(".sample-list");
    var summary = root.querySelector(".summary");
    var prev = root.querySelector("button.prev");
    var next = root.querySelector("button.next");
    var state = { run: 0, status: "all", category: "", query: "", page: 0 };

    data.runs.forEach(function (run, index) {
      var option = element("option", null, run.row + " \u2014 " + run.task + " (" + run.samples.length + ")");
      option.value = String(index);
      runSelect.appendChild(option);
    });

    function text(index) { return index === null || index === undefined ? null : strings[index]; }

    function matches(sample) {
      if (state.status !== "all" && sample.s !== state.status) return false;
      if (state.category) {
        var parts = state.category.split("\u0001");
        if (!sample.g || sample.g[parts[0]] !== parts[1]) return false;
      }
      if (state.query) {
        var haystack = [sample.id, text(sample.p), sample.o, sample.x, text(sample.r)].join("\n").toLowerCase();
        if (haystack.indexOf(state.query) < 0) return false;
      }
      return true;
    }

    function renderStatuses(run) {
      statusBox.textContent = "";
      var shown = ["all"].concat(ALWAYS, ["scored", "excluded"].filter(function (s) { return run.counts[s]; }));
      shown.forEach(function (status) {
        var count = status === "all" ? run.samples.length : run.counts[status] || 0;
        var button = element("button", null, (status === "all" ? "all" : LABELS[status]) + " (" + count + ")");
        button.type = "button";
        button.setAttribute("aria-pressed", String(state.status === status));
        button.disabled = count === 0 && status !== "all";
        button.addEventListener("click", function () { state.status = status; state.page = 0; render(); });
        statusBox.appendChild(button);
      });
    }

    function renderCategories(run) {
      categorySelect.textContent = "";
      var all = element("option", null, "all");
      all.value = "";
      categorySelect.appendChild(all);
      var fields = {};
      run.samples.forEach(function (sample) {
        Object.keys(sample.g || {}).forEach(function (field) {
          fields[field] = fields[field] || {};
          fields[field][sample.g[field]] = (fields[field][sample.g[field]] || 0) + 1;
        });
      });
      Object.keys(fields).sort().forEach(function (field) {
        var group = element("optgroup");
        group.label = field;
        Object.keys(fields[field]).sort().forEach(function (label) {
          var option = element("option", null, label + " (" + fields[field][label] + ")");
          option.value = field + "\u0001" + label;
          group.appendChild(option);
        });
        categorySelect.appendChild(group);
      });
      categorySelect.value = state.category;
      categorySelect.disabled = Object.keys(fields).length === 0;
    }

    function addField(body, name, value, preformatted) {
      if (value === null || value === undefined) return;
      if (value === "") value = "(empty)";
      body.appendChild(element("dt", null, name));
      var dd = element("dd");
      dd.appendChild(preformatted ? element("pre", null, value) : document.createTextNode(value));
      body.appendChild(dd);
    }

    function fillBody(body, sample, run) {
      addField(body, "prompt", text(sample.p), true);
      addField(body, "output", sample.o, true);
      addField(body, "extracted answer", sample.x, true);
      addField(body, "reference", text(sample.r), true);
      addField(body, "score", sample.v === null ? null : run.metric + ": " + sample.v);
      var groupText = Object.keys(sample.g || {}).map(function (k) { return k + ": " + sample.g[k]; }).join(" \u00b7 ");
      if (groupText) addField(body, "categories", groupText);
      addField(body, "note", sample.n, true);
      var audio = text(sample.a);
      if (audio) {
        body.appendChild(element("dt", null, "audio"));
        var dd = element("dd");
        var player = element("audio");
        player.controls = true;
        player.preload = "none";  // nothing is read until the reader presses play
        player.src = audio;
        dd.appendChild(player);
        var link = element("a", null, decodeURIComponent(audio.replace(/^file:\/\//, "")));
        link.href = audio;
        dd.appendChild(link);
        body.appendChild(dd);
      }
    }

    function brief(sample) {
      var answer = sample.x !== null && sample.x !== undefined ? sample.x : sample.o;
      var parts = [];
      if (answer !== null && answer !== undefined) parts.push("answer: " + (answer === "" ? "(empty)" : answer));
      var reference = text(sample.r);
      if (reference !== null) parts.push("reference: " + reference);
      if (!parts.length && sample.n) parts.push(sample.n);
      return parts.join(" \u00b7 ");
    }

    function renderList(run) {
      var selected = run.samples.filter(matches);
      var pages = Math.max(1, Math.ceil(selected.length / PAGE));
      state.page = Math.min(state.page, pages - 1);
      var start = state.page * PAGE;
      var shown = selected.slice(start, start + PAGE);
      list.textContent = "";
      shown.forEach(function (sample) {
        var item = element("li");
        var details = element("details");
        var head = element("summary");
        head.appendChild(element("span", "badge " + sample.s, LABELS[sample.s]));
        head.appendChild(element("span", "sid", sample.id));
        head.appendChild(element("span", "brief", brief(sample)));
        details.appendChild(head);
        details.addEventListener("toggle", function () {
          if (details.open && details.childNodes.length === 1) {  // built when first opened
            var body = element("dl", "sample-body");
            fillBody(body, sample, run);
            details.appendChild(body);
          }
        });
        item.appendChild(details);
        list.appendChild(item);
      });
      summary.textContent = selected.length
        ? "Showing " + (start + 1) + "\u2013" + (start + shown.length) + " of " + selected.length +
          " samples (" + run.samples.length + " in this run: " + run.row + ", " + run.task + ")"
        : "No samples match (" + run.samples.length + " in this run).";
      prev.disabled = state.page === 0;
      next.disabled = state.page >= pages - 1;
    }

    function render() {
      var run = data.runs[state.run];
      renderStatuses(run);
      renderList(run);
    }

    runSelect.addEventListener("change", function () {
      state.run = parseInt(runSelect.value, 10);
      state.category = "";
      state.page = 0;
      renderCategories(data.runs[state.run]);
      render();
    });
    categorySelect.addEventListener("change", function () {
      state.category = categorySelect.value;
      state.page = 0;
      render();
    });
    search.addEventListener("input", function () {
      state.query = search.value.trim().toLowerCase();
      state.page = 0;
      render();
    });
    prev.addEventListener("click", function () { state.page -= 1; render(); });
    next.addEventListener("click", function () { state.page += 1; render(); });
    root.hidden = false;
    renderCategories(data.runs[0]);
    render();
  }

  var table = document.getElementById("leaderboard");
  if (table) initSort(table);
  var source = document.getElementById("sample-data");
  var browser = document.getElementById("sample-browser");
  if (source && browser) {
    var data = JSON.parse(source.textContent);
    if (data.runs.length) initBrowser(browser, data);
  }
})();
