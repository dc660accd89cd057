/* hedgebot status page: line charts drawn as SVG by hand (no library, no CDN).
 *
 * HedgeCharts.draw(svg, series, format) draws each series ({name, points: [[ms, value], ...],
 * dashed}) on shared axes; format(value) labels the y axis. Each series is one <path
 * class="series"> whose data-points says how many points it plots.
 */
"use strict";

const HedgeCharts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d"];
  const PAD = { left: 78, right: 16, top: 28, bottom: 32 };
  const HOUR = 3600000;
  const DAY = 24 * HOUR;
  const STEPS = [1, 2, 6, 12, 24, 48, 168, 336, 720, 2160, 4380, 8760].map((h) => h * HOUR);

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, anchor) {
    const node = el("text", { x, y, "text-anchor": anchor || "start" }, parent);
    node.textContent = content;
    return node;
  }

  /* Round numbers spanning [lo, hi]: about `count` of them, at 1, 2 or 5 × 10^k steps. */
  function ticks(lo, hi, count) {
    const raw = (hi - lo) / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v); // no "-0" from rounding
    }
    return out;
  }

  /* Times spanning [t0, t1] at a round step (hours to a year), about `count` of them. */
  function timeTicks(t0, t1, count) {
    const step = STEPS.find((s) => s >= (t1 - t0) / count) || STEPS[STEPS.length - 1];
    const out = [];
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
    return out;
  }

  function span(values, minimum) {
    let lo = Math.min(...values);
    let hi = Math.max(...values);
    if (hi - lo < minimum) {
      const middle = (hi + lo) / 2;
      lo = middle - minimum / 2;
      hi = middle + minimum / 2;
    }
    const margin = (hi - lo) * 0.05;
    return [lo - margin, hi + margin];
  }

  function dateLabel(ms, wide) {
    const iso = new Date(ms).toISOString();
    return wide ? iso.slice(0, 10) : iso.slice(5, 16).replace("T", " ");
  }

  function empty(svg, message) {
    const box = svg.viewBox.baseVal;
    text(svg, box.width / 2, box.height / 2, message, "middle").setAttribute("class", "empty");
  }

  function draw(svg, series, format) {
    svg.replaceChildren();
    const shown = series.filter((s) => s.points.length > 0);
    const points = shown.flatMap((s) => s.points);
    svg.dataset.points = String(points.length);
    if (points.length === 0) {
      empty(svg, "nothing journaled in this period");
      return;
    }
    const box = svg.viewBox.baseVal;
    const right = box.width - PAD.right;
    const bottom = box.height - PAD.bottom;
    const [t0, t1] = span(points.map((p) => p[0]), HOUR);
    const values = points.map((p) => p[1]);
    const [v0, v1] = span(values, Math.max(Math.abs(Math.max(...values)) * 0.01, 1e-6));
    const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (right - PAD.left);
    const y = (v) => bottom - ((v - v0) / (v1 - v0)) * (bottom - PAD.top);

    for (const v of ticks(v0, v1, 5)) {
      el("line", { x1: PAD.left, x2: right, y1: y(v), y2: y(v), class: "grid" }, svg);
      text(svg, PAD.left - 6, y(v) + 4, format(v), "end");
    }
    const wide = t1 - t0 > 2 * DAY;
    for (const t of timeTicks(t0, t1, 6)) {
      el("line", { x1: x(t), x2: x(t), y1: PAD.top, y2: bottom, class: "grid" }, svg);
      text(svg, x(t), bottom + 18, dateLabel(t, wide), "middle");
    }

    let legend = PAD.left;
    shown.forEach((s, index) => {
      const color = s.color || COLORS[index % COLORS.length];
      const d = s.points
        .map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)} ${y(p[1]).toFixed(1)}`)
        .join(" ");
      const path = el("path", { d, class: "series", stroke: color }, svg);
      if (s.dashed) path.setAttribute("stroke-dasharray", "5 4");
      path.dataset.name = s.name;
      path.dataset.points = String(s.points.length);
      if (s.points.length === 1) {
        const [p] = s.points;
        el("circle", { cx: x(p[0]), cy: y(p[1]), r: 3, fill: color }, svg);
      }
      el("rect", { x: legend, y: 8, width: 12, height: 4, fill: color }, svg);
      legend += text(svg, legend + 16, 14, s.name).getComputedTextLength() + 34;
    });
  }

  return { draw, COLORS };
})();
