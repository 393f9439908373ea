/**
 * The report's plots as plain SVG text: a line chart (linear or log axes) and
 * a horizontal stacked bar chart. Small on purpose: no dependency, and the
 * files diff and render anywhere (GitHub shows them from the Markdown report).
 */

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly logX?: boolean;
  readonly logY?: boolean;
  readonly series: readonly Series[];
  /** Horizontal reference lines, e.g. the 50 ms bar. */
  readonly marks?: readonly { readonly y: number; readonly label: string }[];
}

const W = 760;
const H = 420;
const PAD = { left: 70, right: 220, top: 40, bottom: 50 };
const FONT = 'font-family="sans-serif" font-size="12"';

/** A colour per index, distinguishable and readable on white. */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  if (a >= 1) return String(Number(v.toPrecision(3)));
  return String(Number(v.toPrecision(2)));
}

/** Ticks at 1, 2, 5 × 10^k within [lo, hi]. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

/** Round-number ticks covering [0, hi] (or [lo, hi]). */
function linearTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 6;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? mag * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function axis(values: number[], log: boolean, zero: boolean): { lo: number; hi: number; ticks: number[] } {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = finite.length ? Math.min(...finite) : 1;
  let hi = finite.length ? Math.max(...finite) : 10;
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo));
    hi = 10 ** Math.ceil(Math.log10(hi));
    if (hi <= lo) hi = lo * 10;
    return { lo, hi, ticks: logTicks(lo, hi) };
  }
  if (zero) lo = Math.min(0, lo);
  if (hi <= lo) hi = lo + 1;
  const ticks = linearTicks(lo, hi * 1.05);
  return { lo, hi: ticks.at(-1)!, ticks };
}

export function lineChart(c: LineChart): string {
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [...c.series.flatMap((s) => s.points.map((p) => p[1])), ...(c.marks ?? []).map((m) => m.y)];
  const ax = axis(xs, c.logX ?? false, false);
  const ay = axis(ys, c.logY ?? false, true);
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const sx = (v: number) =>
    PAD.left +
    (c.logX
      ? ((Math.log10(v) - Math.log10(ax.lo)) / (Math.log10(ax.hi) - Math.log10(ax.lo))) * pw
      : ((v - ax.lo) / (ax.hi - ax.lo || 1)) * pw);
  const sy = (v: number) =>
    PAD.top +
    ph -
    (c.logY
      ? ((Math.log10(Math.max(v, ay.lo)) - Math.log10(ay.lo)) / (Math.log10(ay.hi) - Math.log10(ay.lo))) * ph
      : ((v - ay.lo) / (ay.hi - ay.lo || 1)) * ph);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - PAD.right / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(c.title)}</text>`,
  ];
  for (const t of ay.ticks) {
    const y = sy(t).toFixed(1);
    out.push(`<line x1="${PAD.left}" x2="${PAD.left + pw}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${PAD.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  for (const t of ax.ticks) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${PAD.top}" y2="${PAD.top + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x}" y="${PAD.top + ph + 16}" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${PAD.left + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  out.push(
    `<text transform="translate(16 ${PAD.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`,
  );
  for (const m of c.marks ?? []) {
    const y = sy(m.y).toFixed(1);
    out.push(
      `<line x1="${PAD.left}" x2="${PAD.left + pw}" y1="${y}" y2="${y}" stroke="#000" stroke-dasharray="2 4"/>`,
      `<text x="${PAD.left + 4}" y="${Number(y) - 4}" fill="#444">${esc(m.label)}</text>`,
    );
  }
  c.series.forEach((s, i) => {
    const pts = [...s.points].filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (pts.length > 1) {
      const d = pts.map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    }
    for (const [x, y] of pts) {
      out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
    const ly = PAD.top + 10 + i * 18;
    out.push(
      `<line x1="${W - PAD.right + 12}" x2="${W - PAD.right + 36}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${W - PAD.right + 42}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface StackedBars {
  readonly title: string;
  readonly unit: string;
  /** Segment names in stacking order, each with its colour. */
  readonly parts: readonly { readonly name: string; readonly color: string }[];
  readonly bars: readonly { readonly label: string; readonly values: Readonly<Record<string, number>> }[];
}

export function stackedBars(c: StackedBars): string {
  const rowH = 28;
  const top = 40;
  const left = 200;
  const right = 70;
  const legendH = 30;
  const h = top + c.bars.length * rowH + 40 + legendH;
  const totals = c.bars.map((b) =>
    c.parts.reduce((s, p) => s + (Number.isFinite(b.values[p.name]) ? b.values[p.name]! : 0), 0),
  );
  const ticks = linearTicks(0, Math.max(...totals, 1e-9) * 1.05);
  const max = ticks.at(-1)!;
  const pw = W - left - right;
  const sx = (v: number) => left + (v / max) * pw;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" ${FONT}>`,
    `<rect width="${W}" height="${h}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(c.title)}</text>`,
  ];
  const bottom = top + c.bars.length * rowH;
  for (const t of ticks) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${top}" y2="${bottom}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x}" y="${bottom + 16}" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(`<text x="${left + pw / 2}" y="${bottom + 34}" text-anchor="middle">${esc(c.unit)}</text>`);
  c.bars.forEach((b, i) => {
    const y = top + i * rowH + 4;
    out.push(
      `<text x="${left - 8}" y="${y + (rowH - 8) / 2}" text-anchor="end" dominant-baseline="middle">${esc(b.label)}</text>`,
    );
    let acc = 0;
    for (const p of c.parts) {
      const v = b.values[p.name];
      if (v === undefined || !Number.isFinite(v) || v <= 0) continue;
      out.push(
        `<rect x="${sx(acc).toFixed(1)}" y="${y}" width="${(sx(acc + v) - sx(acc)).toFixed(1)}" height="${rowH - 8}" fill="${p.color}"><title>${esc(`${p.name}: ${v.toFixed(3)}`)}</title></rect>`,
      );
      acc += v;
    }
    out.push(`<text x="${sx(acc) + 4}" y="${y + (rowH - 8) / 2}" dominant-baseline="middle">${fmt(totals[i]!)}</text>`);
  });
  c.parts.forEach((p, i) => {
    const x = left + i * 110;
    const y = h - legendH / 2;
    out.push(
      `<rect x="${x}" y="${y - 6}" width="12" height="12" fill="${p.color}"/>`,
      `<text x="${x + 16}" y="${y}" dominant-baseline="middle">${esc(p.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
