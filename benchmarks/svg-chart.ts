/**
 * A hand-written SVG line chart: axes with ticks and labels, grid, polylines, vertical markers
 * and a legend. No dependency; the output opens in any browser.
 * @module
 */

/** One line of the chart. */
export interface Series {
  label: string;
  /** Any SVG colour. */
  color: string;
  points: readonly (readonly [x: number, y: number])[];
  dashed?: boolean;
  /** Draw a dot on each point. @default false */
  dots?: boolean;
}

export interface LineChart {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  xMax: number;
  yMax: number;
  xTicks: readonly number[];
  yTicks: readonly number[];
  /** Tick label text. @default String */
  formatY?: (y: number) => string;
  series: readonly Series[];
  /** Vertical lines with a label at the top. */
  markers?: readonly { x: number; label: string }[];
  /** Corner of the plot that holds the legend: pick the one the data leaves empty. @default 'top-left' */
  legend?: 'top-left' | 'bottom-right';
}

const WIDTH = 900;
const HEIGHT = 480;
const MARGIN = { top: 70, right: 30, bottom: 60, left: 70 };

/** Escapes text for SVG content and attributes. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Renders the chart as a standalone SVG document. */
export function renderLineChart(chart: LineChart): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => MARGIN.left + (x / chart.xMax) * plotW;
  const sy = (y: number): number => MARGIN.top + plotH - (y / chart.yMax) * plotH;
  const fy = chart.formatY ?? String;
  const r = (v: number): string => v.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 ` +
      `0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="17" font-weight="bold">${esc(chart.title)}</text>`,
  ];
  if (chart.subtitle !== undefined)
    out.push(`<text x="${WIDTH / 2}" y="44" text-anchor="middle" fill="#555">${esc(chart.subtitle)}</text>`);
  for (const y of chart.yTicks) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${r(sy(y))}" y2="${r(sy(y))}" stroke="#e4e4e4"/>`,
    );
    out.push(`<text x="${MARGIN.left - 8}" y="${r(sy(y) + 4)}" text-anchor="end">${esc(fy(y))}</text>`);
  }
  for (const x of chart.xTicks) {
    out.push(
      `<line x1="${r(sx(x))}" x2="${r(sx(x))}" y1="${MARGIN.top + plotH}" ` +
        `y2="${MARGIN.top + plotH + 5}" stroke="#333"/>`,
    );
    out.push(
      `<text x="${r(sx(x))}" y="${MARGIN.top + plotH + 20}" text-anchor="middle">${x.toLocaleString('en-US')}</text>`,
    );
  }
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">${esc(chart.xLabel)}</text>`,
    `<text transform="translate(20 ${MARGIN.top + plotH / 2}) ` +
      `rotate(-90)" text-anchor="middle">${esc(chart.yLabel)}</text>`,
  );
  for (const marker of chart.markers ?? []) {
    const x = r(sx(marker.x));
    out.push(
      `<line x1="${x}" x2="${x}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" ` +
        `stroke="#c00" stroke-width="1.5" stroke-dasharray="2 3"/>`,
    );
    out.push(`<text x="${x}" y="${MARGIN.top - 6}" text-anchor="middle" fill="#c00">${esc(marker.label)}</text>`);
  }
  for (const s of chart.series) {
    const points = s.points.map(([x, y]) => `${r(sx(x))},${r(sy(y))}`).join(' ');
    const dash = s.dashed === true ? ' stroke-dasharray="6 4"' : '';
    out.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    if (s.dots === true)
      for (const [x, y] of s.points) out.push(`<circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="2.5" fill="${s.color}"/>`);
  }
  const box = legendSize(chart.series);
  const bottomRight = chart.legend === 'bottom-right';
  const lx = bottomRight ? MARGIN.left + plotW - box.width - 4 : MARGIN.left + 12;
  const ly = bottomRight ? MARGIN.top + plotH - box.height + 10 : MARGIN.top + 14;
  out.push(...legend(chart.series, lx, ly, box));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

const LEGEND_ROW = 20;

/** Legend box size; label width is estimated from the character count at 13 px. */
function legendSize(series: readonly Series[]): { width: number; height: number } {
  return {
    width: 14 + Math.max(...series.map((s) => s.label.length)) * 7.2 + 40,
    height: series.length * LEGEND_ROW + 8,
  };
}

/** `x, y`: baseline of the first entry's text; the box starts 8 px left and 14 px above. */
function legend(series: readonly Series[], x: number, y: number, box: { width: number; height: number }): string[] {
  const out = [
    `<rect x="${x - 8}" y="${y - 14}" width="${box.width.toFixed(0)}" ` +
      `height="${box.height}" fill="white" fill-opacity="0.9" stroke="#bbb"/>`,
  ];
  series.forEach((s, i) => {
    const ly = y + i * LEGEND_ROW;
    const dash = s.dashed === true ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<line x1="${x}" x2="${x + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`,
    );
    out.push(`<text x="${x + 36}" y="${ly}">${esc(s.label)}</text>`);
  });
  return out;
}
