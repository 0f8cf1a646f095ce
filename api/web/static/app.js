// carematch pages: the roster Gantt (vis-timeline). Everything else is plain HTML
// forms and htmx attributes; this file holds no rules, only drawing.
"use strict";

(function () {
  const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

  function at(dayIndex, hour) {
    return new Date(2024, 0, 1 + dayIndex, hour, 0, 0);
  }

  function windowOf(view) {
    const i = DAYS.indexOf(view);
    if (i < 0) return [at(0, 0), at(7, 0)];
    return [at(i, 5), at(i, 23)];
  }

  function drawGantt() {
    const container = document.getElementById("gantt");
    const source = document.getElementById("gantt-data");
    if (!container || !source || !window.vis) return;
    const data = JSON.parse(source.textContent);
    const [start, end] = windowOf(container.dataset.day || "week");
    const timeline = new vis.Timeline(
      container,
      new vis.DataSet(data.items),
      new vis.DataSet(data.groups),
      {
        start: start,
        end: end,
        min: at(0, 0),
        max: at(7, 0),
        zoomMin: 60 * 60 * 1000,
        stack: false,
        orientation: "top",
        groupHeightMode: "fixed",
        verticalScroll: true,
        maxHeight: "70vh",
        tooltip: { followMouse: true, overflowMethod: "cap" },
        format: {
          minorLabels: { hour: "HH:mm", day: "ddd" },
          majorLabels: { hour: "dddd", day: "" },
        },
      }
    );
    const detail = document.getElementById("visit-detail");
    const byId = new Map(data.items.map((item) => [item.id, item]));
    timeline.on("select", (event) => {
      const item = byId.get(event.items[0]);
      if (detail && item) detail.textContent = item.detail || item.title || "";
    });
    document.querySelectorAll("[data-view]").forEach((button) => {
      button.addEventListener("click", () => {
        const [s, e] = windowOf(button.dataset.view);
        timeline.setWindow(s, e, { animation: false });
        document.querySelectorAll("[data-view]").forEach((b) => b.classList.remove("active"));
        button.classList.add("active");
        button.setAttribute("aria-pressed", "true");
      });
    });
    // The rows' labels scroll with the chart: reachable with the keyboard too.
    container.querySelectorAll(".vis-left, .vis-center").forEach((panel) => {
      panel.tabIndex = 0;
    });
    container.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", drawGantt);
})();
