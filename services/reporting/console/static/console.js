// Shared behaviour of every console page.
"use strict";

// The complaint search box goes to the complaint page by number.
document.querySelectorAll("form.complaint-search").forEach((form) => {
  form.addEventListener("submit", (event) => {
    const no = form.elements.no.value.trim();
    if (!no) return;
    event.preventDefault();
    window.location.href = "/console/complaints/" + encodeURIComponent(no);
  });
});

// Chinese names of codes (labels.py): consoleLabels.name("cause", "quality") → "质量问题".
const labelTable = JSON.parse(document.getElementById("console-labels")?.textContent || "{}");
window.consoleLabels = {
  name(kind, code) {
    return code === null || code === undefined ? "" : (labelTable[kind] || {})[code] || code;
  },
};

// Format helpers: amounts in 元 from fen, times in China time (UTC+08:00).
window.consoleFormat = {
  yuan(fen) {
    return (fen / 100).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + " 元";
  },
  chinaTime(iso) {
    if (!iso) return "";
    const shifted = new Date(new Date(iso).getTime() + 8 * 3600 * 1000);
    return shifted.toISOString().slice(0, 16).replace("T", " ");
  },
  percent(value) {
    return value === null || value === undefined ? "无数据" : (value * 100).toFixed(1) + " %";
  },
};
