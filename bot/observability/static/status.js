/* hedgebot status page: reads the JSON API and fills the page; read-only.
 *
 * Every figure is shown as the API's "shown" text, the very string `hedgebot status` and
 * `hedgebot report` print; the exact decimals only feed the charts.
 */
"use strict";

(() => {
  const REFRESH_MS = 15000;
  const $ = (selector) => document.querySelector(selector);
  let lastCycle;

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) {
      window.location.assign("/login");
      throw new Error("not logged in");
    }
    if (!response.ok) throw new Error((await response.text()).trim() || response.statusText);
    return response.json();
  }

  function showError(error) {
    const box = $("#error");
    box.hidden = !error;
    box.textContent = error ? String(error.message || error) : "";
  }

  function row(cells, fields) {
    const tr = document.createElement("tr");
    cells.forEach((value, i) => {
      const td = document.createElement("td");
      td.textContent = value;
      if (fields) td.dataset.field = fields[i];
      tr.appendChild(td);
    });
    return tr;
  }

  function fill(tbody, items, fields) {
    tbody.replaceChildren(
      ...items.map((item) => {
        const tr = row(fields.map((f) => item[f]), fields);
        tr.dataset.key = item[fields[0]];
        return tr;
      })
    );
  }

  function renderState(status) {
    const state = status.state;
    const badge = $("#state");
    const word = state.halted ? "halted" : state.running ? "running" : "stopped";
    badge.dataset.state = word;
    badge.textContent = state.halted ? "halted" : state.running ? "running" : "not running";
    $("#venue").textContent = status.venue;
    $("#state-detail").textContent =
      state.detail + (state.halted ? ` — kill switch on: ${state.halted}` : "");
    const last = state.last_cycle;
    $("#last-cycle").textContent = last ? `${last.time_shown} (${last.id})` : "none yet";
    $("#last-outcome").textContent = last ? `${last.status} — ${last.reason}` : "-";
    let next = state.next_cycle_shown || "-";
    if (state.sooner) next += " (sooner: an order in flight or a doubt is looked at again)";
    $("#next-cycle").textContent = next;
    $("#notes").replaceChildren(
      ...(last ? last.notes : []).map((note) => {
        const li = document.createElement("li");
        li.textContent = note;
        return li;
      })
    );
  }

  function renderStatus(status) {
    renderState(status);
    fill(
      $("#holdings tbody"),
      status.holdings.map((h) => h.shown),
      ["asset", "amount", "price", "value"]
    );
    $("#holdings-total").textContent = status.holdings_total;
    fill(
      $("#legs tbody"),
      status.legs.map((leg) => leg.shown),
      [
        "symbol", "contracts", "mark", "short_notional", "target_notional", "hedge_ratio",
        "liquidation_price", "distance", "required", "margin", "leverage",
      ]
    );
    const policy = status.policy;
    $("#policy").replaceChildren(
      ...(policy
        ? [
            `margin policy: jump history, as of ${policy.time_shown} (${policy.collateral} collateral free)`,
            ...policy.legs.map((leg) => (leg.reachable ? "" : "! ") + leg.note),
          ]
        : []
      ).map((line) => {
        const li = document.createElement("li");
        li.textContent = line;
        if (line.startsWith("! ")) li.className = "warn";
        return li;
      })
    );
    for (const [field, text] of Object.entries(status.totals.shown)) {
      $(`#totals dd[data-field="${field}"]`).textContent = text;
    }
    for (const [field, text] of Object.entries(status.carry || {})) {
      $(`#carry [data-field="${field}"]`).textContent = text;
    }
    renderInsurance(status.insurance);
  }

  function renderInsurance(insurance) {
    const tbody = $("#insurance tbody");
    if (!insurance) {
      $("#insurance-period").textContent = "no fill or funding journaled yet";
      tbody.replaceChildren();
      return;
    }
    $("#insurance-period").textContent =
      `period ${insurance.since_shown} → ${insurance.until_shown} (${insurance.days} days); ` +
      "carry cost = fees + funding paid − funding received";
    const fields = [
      "symbol", "protected", "fees", "funding_received", "funding_paid", "carry_cost",
      "cost_per_year", "realized", "unrealized", "net",
    ];
    fill(tbody, [...insurance.legs, insurance.total], fields);
    tbody.lastElementChild.className = "total";
  }

  const money = (v) => v.toLocaleString("en-US", { maximumFractionDigits: Math.abs(v) < 10 ? 2 : 0 });
  const percent = (v) => `${(v * 100).toFixed(1)}%`;
  const line = (items, field) => items.map((p) => [Date.parse(p.time), parseFloat(p[field])]);

  function renderCharts(data) {
    HedgeCharts.draw(
      $("#chart-portfolio"),
      [
        { name: "hedged", points: line(data.portfolio, "hedged") },
        { name: "unhedged", points: line(data.portfolio, "unhedged") },
      ],
      money
    );
    const ratios = Object.entries(data.hedge_ratio).flatMap(([symbol, points], i) => {
      const color = HedgeCharts.COLORS[i % HedgeCharts.COLORS.length];
      const name = symbol.split("/")[0];
      return [
        { name, color, points: line(points, "ratio") },
        { name: `${name} target`, color, dashed: true, points: line(points, "target") },
      ];
    });
    HedgeCharts.draw($("#chart-ratio"), ratios, percent);
    HedgeCharts.draw(
      $("#chart-costs"),
      [
        { name: "fees paid", points: line(data.costs, "fees") },
        { name: "funding received (net)", points: line(data.costs, "funding") },
      ],
      money
    );
  }

  function windowQuery() {
    const form = new FormData($("#window"));
    const query = new URLSearchParams();
    for (const name of ["from", "to"]) if (form.get(name)) query.set(name, form.get(name));
    const text = query.toString();
    return text ? `?${text}` : "";
  }

  async function refreshCharts() {
    try {
      renderCharts(await getJson(`/api/snapshots${windowQuery()}`));
      $("#window-error").textContent = "";
    } catch (error) {
      $("#window-error").textContent = error.message;
    }
  }

  async function refreshEvents() {
    const events = await getJson(`/api/events${windowQuery()}`);
    const list = $("#events");
    if (!events.length) {
      const li = document.createElement("li");
      li.textContent = "no events journaled";
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(
      ...events.map((event) => {
        const li = document.createElement("li");
        li.dataset.kind = event.kind;
        const time = document.createElement("time");
        time.dateTime = event.time;
        time.textContent = event.time_shown;
        const severity = document.createElement("span");
        severity.className = `sev sev-${event.severity}`;
        severity.textContent = event.severity;
        const title = document.createElement("strong");
        title.textContent = event.title;
        const message = document.createElement("span");
        message.className = "message";
        message.textContent = event.message;
        li.append(time, severity, title, message);
        return li;
      })
    );
  }

  async function refreshBacktest() {
    const data = await getJson("/api/backtest");
    const section = $("#backtest");
    section.hidden = !data;
    if (!data) return;
    if (data.error) {
      $("#backtest-about").textContent = data.error;
      return;
    }
    $("#backtest-about").textContent =
      `${data.title} — ${data.data}, ${data.start} → ${data.end} (${data.directory})`;
    $("#backtest-table").textContent = data.table;
    const runs = Object.entries(data.curves);
    const series = runs.map(([label, points]) => ({ name: label, points: line(points, "hedged") }));
    if (runs.length) {
      series.push({ name: "unhedged", color: "#9ca3af", points: line(runs[0][1], "unhedged") });
    }
    HedgeCharts.draw($("#chart-backtest"), series, money);
  }

  async function refresh() {
    try {
      const status = await getJson("/api/status");
      renderStatus(status);
      showError(null);
      const cycle = status.state.last_cycle ? status.state.last_cycle.id : null;
      if (cycle !== lastCycle) {
        lastCycle = cycle;
        await Promise.all([refreshCharts(), refreshEvents()]);
      }
      document.body.dataset.loaded = cycle || "empty";
    } catch (error) {
      showError(error);
    }
  }

  $("#window").addEventListener("submit", (event) => {
    event.preventDefault();
    refreshCharts();
    refreshEvents().catch(showError);
  });
  refresh();
  refreshBacktest().catch(showError);
  setInterval(refresh, REFRESH_MS);
})();
