// Draws the weekly chart from the JSON the page carries; the table below holds the same numbers.
(function () {
  "use strict";
  var data = document.getElementById("trend-data");
  var canvas = document.getElementById("trend-chart");
  if (!data || !canvas || typeof window.Chart === "undefined") return;
  var trend = JSON.parse(data.textContent);
  var colours = ["#1d4ed8", "#b45309", "#047857", "#9d174d"];
  new window.Chart(canvas, {
    type: "line",
    data: {
      labels: trend.labels,
      datasets: trend.series.map(function (s, i) {
        return { label: s.label, data: s.data, borderColor: colours[i % colours.length],
                 backgroundColor: colours[i % colours.length], tension: 0.2 };
      })
    },
    options: { animation: false, responsive: true, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
})();

// The report's print button (no inline handlers, so a strict CSP can forbid them).
document.addEventListener("click", function (event) {
  if (event.target instanceof Element && event.target.closest("[data-print]")) window.print();
});
