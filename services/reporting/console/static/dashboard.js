// The dashboard: fetches /api/v1/dashboard with the filters, draws the ECharts charts, re-fetches on
// each change of the read model (server-sent events, debounced). Each chart container has
// data-chart="<name>"; after drawing it gets data-has-data="true" or "false".
"use strict";

(function dashboardPage() {
  const fmt = window.consoleFormat;
  const zh = window.consoleLabels.name;
  const form = document.getElementById("filters");
  const charts = new Map();
  const REPORTS = ["quality-incidents", "external-failure-cost", "quality-stats"];
  const KPI_NAMES = { service_on_time: "服务及时率", customer_satisfaction: "客户满意率", service_at_fault: "用户抱怨率" };
  const KPI_TARGETS = { service_on_time: 0.9, customer_satisfaction: 0.85, service_at_fault: 0.03 };
  const STATUS_NAMES = { open: "未确认", acknowledged: "已确认", forwarded: "已上报" };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    children.forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(c ?? "")));
    return node;
  }

  function chart(name, option, hasData) {
    const container = document.querySelector(`[data-chart="${name}"]`);
    let instance = charts.get(name);
    if (!instance) {
      instance = echarts.init(container);
      charts.set(name, instance);
    }
    const empty = { title: { text: "暂无数据", left: "center", top: "middle", textStyle: { color: "#999", fontSize: 14 } } };
    instance.setOption(hasData ? option : empty, true);
    container.dataset.hasData = hasData ? "true" : "false";
  }

  function query() {
    const params = new URLSearchParams();
    for (const name of ["from", "to", "region", "model"]) {
      const value = form.elements[name].value;
      if (value) params.set(name, value);
    }
    return params;
  }

  // `?as_of=` in the page's address judges deadlines and overdue parts at that time (a simulated clock).
  function dashboardQuery() {
    const params = query();
    const asOf = new URLSearchParams(location.search).get("as_of");
    if (asOf) params.set("as_of", asOf);
    return params;
  }

  function fillOptions(select, values) {
    const current = select.value || new URLSearchParams(location.search).get(select.name) || "";
    select.replaceChildren(el("option", { value: "" }, "全部"), ...values.map((v) => el("option", { value: v }, v)));
    select.value = values.includes(current) ? current : "";
  }

  function kpiCards(kpis) {
    const box = document.getElementById("kpis");
    box.replaceChildren(...kpis.map((k) => {
      const state = k.met === null ? "nodata" : k.met ? "met" : "missed";
      const verdict = k.met === null ? "无数据" : k.met ? "达标" : "未达标";
      return el("div", { class: "card kpi", "data-testid": `kpi-${k.kpi}`, "data-met": String(k.met) },
        el("h2", {}, k.label),
        el("div", { class: `value ${state}` }, fmt.percent(k.value)),
        el("div", {}, `目标 ${k.target.replace("<", "＜").replace(">=", "≥")} · ${verdict}` +
          (k.denominator ? `（${k.numerator}/${k.denominator}）` : "")),
        el("div", { class: "definition" }, `定义：${k.definition_zh}`));
    }));
  }

  function kpiTrend(trend) {
    const series = Object.entries(trend.series).map(([name, points]) => ({
      name: KPI_NAMES[name], type: "line", connectNulls: true,
      data: points.map((p) => (p.value === null ? null : +(p.value * 100).toFixed(1))),
      markLine: { silent: true, symbol: "none", lineStyle: { type: "dashed" },
        data: [{ yAxis: KPI_TARGETS[name] * 100, name: `${KPI_NAMES[name]}目标` }] },
    }));
    chart("kpi-trend", {
      tooltip: { trigger: "axis", valueFormatter: (v) => (v === null || v === undefined ? "无数据" : `${v} %`) },
      legend: {}, xAxis: { type: "category", data: trend.months }, yAxis: { type: "value", max: 100, name: "%" },
      series,
    }, trend.months.length > 0);
  }

  function stackedByQuarter(name, rows, key, missing) {
    const quarters = [...new Set(rows.map((r) => r.quarter))].sort();
    const groups = [...new Set(rows.map((r) => r[key] || missing))].sort();
    const series = groups.map((g) => ({
      name: g, type: "bar", stack: "all",
      data: quarters.map((q) => rows.filter((r) => r.quarter === q && (r[key] || missing) === g)
        .reduce((n, r) => n + r.complaints, 0)),
    }));
    chart(name, { tooltip: { trigger: "axis" }, legend: { type: "scroll" },
      xAxis: { type: "category", data: quarters }, yAxis: { type: "value", name: "件" }, series }, rows.length > 0);
  }

  function bars(name, categories, series, unit) {
    chart(name, { tooltip: { trigger: "axis" }, legend: {}, grid: { containLabel: true },
      xAxis: { type: "category", data: categories, axisLabel: { interval: 0, rotate: categories.length > 4 ? 30 : 0 } },
      yAxis: { type: "value", name: unit }, series }, categories.length > 0);
  }

  function table(columns, rows) {
    if (!rows.length) return el("p", { class: "muted" }, "无");
    return el("table", {},
      el("thead", {}, el("tr", {}, ...columns.map(([, label]) => el("th", {}, label)))),
      el("tbody", {}, ...rows.map((row) => el("tr", {}, ...columns.map(([key]) => {
        const value = row[key];
        if (key === "complaint_no" && value) {
          return el("td", {}, el("a", { href: `/console/complaints/${encodeURIComponent(value)}` }, value));
        }
        return el("td", {}, typeof value === "boolean" ? (value ? "是" : "否") : String(value ?? ""));
      })))));
  }

  function worklists(data) {
    const box = document.getElementById("worklists");
    box.replaceChildren(
      el("h2", {}, "时限"), table([["complaint_no", "投诉编号"], ["rule", "规则"], ["state", "状态"], ["due_at", "到期（北京时间）"]],
        data.deadlines.items.map((i) => ({ ...i, state: i.state === "breached" ? "已超时" : "4 小时内到期", due_at: fmt.chinaTime(i.due_at) }))),
      el("h2", {}, "未确认的升级"), table([["complaint_no", "投诉编号"], ["rule", "规则"], ["to", "升级至"], ["reason", "原因"],
        ["raised_at", "升级时间"], ["overdue", "确认逾期"]],
        data.escalations.items.map((i) => ({ ...i, to: zh("role", i.to), raised_at: fmt.chinaTime(i.raised_at) }))),
      el("h2", {}, "逾期未交回的旧件"), table([["complaint_no", "投诉编号"], ["part_id", "旧件"], ["description", "名称"],
        ["engineer", "责任工程师"], ["due_date", "应交回日期"], ["delay_days", "延误天数"]], data.old_parts.overdue_items),
      el("h2", {}, "待审批的出售"), table([["complaint_no", "投诉编号"], ["part_id", "旧件"], ["price_yuan", "价格（元）"],
        ["waiting_for", "待"], ["below_floor", "低于底价"]], data.old_parts.sales_items),
      el("h2", {}, "待审批的报废/处置"), table([["complaint_no", "投诉编号"], ["part_id", "旧件"], ["level", "审批级别"],
        ["total_yuan", "金额（元）"], ["waiting_for", "待"]],
        data.old_parts.scrap_items.map((i) => ({ ...i, level: zh("level", i.level) }))),
    );
  }

  function draw(data) {
    fillOptions(form.elements.region, data.options.regions);
    fillOptions(form.elements.model, data.options.models);
    document.getElementById("generated-at").textContent =
      `共 ${data.complaints} 件投诉 · 更新于 ${fmt.chinaTime(data.generated_at)}`;
    kpiCards(data.kpis);
    kpiTrend(data.kpi_trend);
    stackedByQuarter("complaints-by-model", data.complaints_by_quarter, "model", "未知机型");
    const causes = data.complaints_by_quarter.map((r) => ({ ...r, cause: zh("cause", r.cause || "unclassified") }));
    stackedByQuarter("complaints-by-cause", causes, "cause", "未分类");

    const d = data.deadlines;
    document.getElementById("deadline-summary").textContent =
      `已超时 ${d.breached} 项，4 小时内到期 ${d.due_soon} 项（截至 ${fmt.chinaTime(d.as_of)}）`;
    bars("deadlines", d.by_rule.map((r) => r.rule), [
      { name: "已超时", type: "bar", itemStyle: { color: "#d54941" }, data: d.by_rule.map((r) => r.breached) },
      { name: "4 小时内到期", type: "bar", itemStyle: { color: "#e37318" }, data: d.by_rule.map((r) => r.due_soon) },
    ], "项");

    const e = data.escalations;
    document.getElementById("escalation-summary").textContent =
      `未关闭 ${e.open} 项，其中未确认 ${e.unacknowledged} 项，确认逾期 ${e.overdue} 项`;
    bars("escalations", e.by_rule.map((r) => r.rule), Object.entries(STATUS_NAMES).map(([status, label]) => ({
      name: label, type: "bar", stack: "all", data: e.by_rule.map((r) => r[status]),
    })), "项");

    const f = data.fines;
    const yuan = (fen) => +(fen / 100).toFixed(2);
    bars("fines-by-person", f.by_person.map((p) => p.person), [
      { name: "净额", type: "bar", data: f.by_person.map((p) => yuan(p.net_fen)) }], "元");
    bars("fines-by-department", f.by_department.map((p) => zh("department", p.department)), [
      { name: "净额", type: "bar", data: f.by_department.map((p) => yuan(p.net_fen)) }], "元");
    bars("fines-by-month", f.by_month.map((m) => m.month), [
      { name: "罚款", type: "bar", data: f.by_month.map((m) => yuan(m.levied_fen)) },
      { name: "撤销", type: "bar", data: f.by_month.map((m) => -yuan(m.reversed_fen)) },
      { name: "净额", type: "line", data: f.by_month.map((m) => yuan(m.net_fen)) }], "元");

    const p = data.old_parts;
    const partCounts = [p.overdue, p.sales_awaiting, p.scrap_awaiting];
    chart("old-parts", { tooltip: {}, xAxis: { type: "category", data: ["逾期未交回", "出售待审批", "报废待审批"] },
      yAxis: { type: "value", name: "件" }, series: [{ type: "bar", data: partCounts }] },
    partCounts.some((n) => n > 0));
    worklists(data);
  }

  // The quality reports (their own routes, docs/rules.md §6): a chart and a table each; a shape this
  // page does not know is shown as plain tables.
  const CLASS_NAMES = { major: "重大", batch: "批量", general: "一般" };
  const yuanOf = (fen) => +(fen / 100).toFixed(2);
  const REPORT_VIEWS = {
    "quality-incidents"(json) {
      const rows = json.incidents;
      chart("quality-incidents", { tooltip: {}, xAxis: { type: "category", data: ["重大", "批量", "一般"] },
        yAxis: { type: "value", name: "起" },
        series: [{ type: "bar", data: ["major", "batch", "general"].map((c) => json.counts[c] || 0) }] },
      rows.length > 0);
      return [el("p", { class: "muted" }, `重大：退货 ≥ ${json.thresholds.major_returns} 件或损失 ≥ ` +
        `${json.thresholds.major_loss_yuan} 元；批量：同型号同生产日期退回 ≥ ${json.thresholds.batch_returns} 件`),
      table([["class", "分类"], ["model", "机型"], ["production_date", "生产日期"], ["returns", "退回（台）"],
        ["complaints", "投诉"], ["loss_yuan", "损失（元）"], ["reasons", "依据"]],
      rows.map((r) => ({ ...r, class: CLASS_NAMES[r.class] || r.class, reasons: (r.reasons || []).join("；") })))];
    },
    "external-failure-cost"(json) {
      const q = json.quarters;
      chart("external-failure-cost", { tooltip: { trigger: "axis" }, legend: {},
        xAxis: { type: "category", data: q.map((r) => r.quarter) }, yAxis: { type: "value", name: "元" },
        series: [
          { name: "服务费用", type: "bar", stack: "cost", data: q.map((r) => yuanOf(r.service_fen)) },
          { name: "配件", type: "bar", stack: "cost", data: q.map((r) => yuanOf(r.parts_fen)) },
          { name: "收回（收费与索赔）", type: "bar", data: q.map((r) => -yuanOf(r.collected_fen + r.recovered_fen)) },
          { name: "净额", type: "line", data: q.map((r) => yuanOf(r.net_fen)) },
        ] }, q.length > 0);
      return [table([["quarter", "季度"], ["service_yuan", "服务费用"], ["parts_yuan", "配件"], ["gross_yuan", "合计"],
        ["collected_yuan", "已收费"], ["recovered_yuan", "索赔收回"], ["net_yuan", "净额（元）"]],
      [...q, { ...json.total, quarter: "合计" }])];
    },
    "quality-stats"(json) {
      const rows = json.rows.map((r) => ({ ...r, cause: zh("cause", r.cause || "unclassified") }));
      stackedByQuarter("quality-stats", rows, "cause", "未分类");
      return [table([["quarter", "季度"], ["model", "机型"], ["cause", "原因"], ["complaints", "投诉"],
        ["faults", "故障"], ["returns", "退回"], ["repairs", "维修"], ["service_at_fault", "服务责任"],
        ["net_cost_yuan", "净成本（元）"]], rows)];
    },
  };

  function reportTables(json) {
    const parts = [];
    const asTable = (rows) => {
      const columns = [...new Set(rows.slice(0, 50).flatMap((r) => Object.keys(r)))]
        .filter((k) => rows.some((r) => r[k] === null || typeof r[k] !== "object"));
      return table(columns.map((c) => [c, c]), rows.slice(0, 50));
    };
    if (Array.isArray(json)) {
      parts.push(asTable(json));
    } else if (json && typeof json === "object") {
      for (const [key, value] of Object.entries(json)) {
        if (Array.isArray(value) && value.every((r) => r && typeof r === "object")) {
          parts.push(el("h3", {}, key), asTable(value));
        }
      }
    }
    return parts;
  }

  async function loadReport(name, params) {
    const card = document.querySelector(`[data-report="${name}"]`);
    const body = card.querySelector(".report-body");
    let response = await fetch(`/api/v1/reports/${name}?${params}`, { headers: { Accept: "application/json" } });
    if (response.status === 422 && params.toString()) {
      response = await fetch(`/api/v1/reports/${name}`, { headers: { Accept: "application/json" } });
    }
    if (!response.ok) {
      body.replaceChildren(response.status === 404 ? "报表尚未提供" : `加载失败（${response.status}）`);
      card.dataset.loaded = "false";
      chart(name, {}, false);
      return;
    }
    const json = await response.json();
    let parts;
    try {
      parts = REPORT_VIEWS[name](json);
    } catch (error) {
      console.warn(`report ${name}: unexpected shape, shown as tables`, error);
      chart(name, {}, false);
      parts = reportTables(json);
    }
    body.classList.remove("muted");
    body.replaceChildren(...parts);
    card.dataset.loaded = "true";
  }

  let loading = null;
  let again = false; // a change arrived during a fetch: fetch once more after it
  async function load() {
    if (loading) {
      again = true;
      return loading;
    }
    const params = query();
    loading = (async () => {
      try {
        const response = await fetch(`/api/v1/dashboard?${dashboardQuery()}`, { headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error(`dashboard ${response.status}`);
        draw(await response.json());
        document.body.dataset.loaded = String(Date.now());
        await Promise.all(REPORTS.map((name) => loadReport(name, params).catch(() => chart(name, {}, false))));
      } finally {
        loading = null;
        if (again) {
          again = false;
          load();
        }
      }
    })();
    return loading;
  }

  const initial = new URLSearchParams(location.search);
  for (const name of ["from", "to"]) form.elements[name].value = initial.get(name) || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    history.replaceState(null, "", `?${dashboardQuery()}`);
    load();
  });
  for (const name of ["region", "model"]) form.elements[name].addEventListener("change", () => form.requestSubmit());
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  load();
  window.onProjectionChange(load, 500);
})();
