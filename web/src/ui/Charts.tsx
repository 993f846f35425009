// Small inline-SVG charts: a line for a trend, bars for weekly figures. Each has a text
// alternative (aria-label) and its numbers in a table for those who would rather read.

export interface Point {
  label: string;
  value: number;
}

const W = 320;
const H = 140;
const PAD = { left: 40, right: 10, top: 10, bottom: 24 };

function scale(values: number[]): { min: number; max: number } {
  if (!values.length) return { min: 0, max: 1 };
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (min === max) {
    min = min * 0.9;
    max = max * 1.1 || 1;
  }
  return { min, max };
}

function fmt(n: number): string {
  return Math.abs(n) >= 100 ? String(Math.round(n)) : String(Math.round(n * 10) / 10);
}

function DataTable({ title, points, unit }: { title: string; points: Point[]; unit: string }) {
  return (
    <details className="data">
      <summary>Numbers</summary>
      <table>
        <caption className="sr-only">{title}</caption>
        <tbody>
          {points.map((p, i) => (
            <tr key={i}>
              <th scope="row">{p.label}</th>
              <td>
                {fmt(p.value)} {unit}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

export function LineChart({ title, points, unit }: { title: string; points: Point[]; unit: string }) {
  const { min, max } = scale(points.map((p) => p.value));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (points.length <= 1 ? innerW / 2 : (i / (points.length - 1)) * innerW);
  const y = (v: number) => PAD.top + innerH - ((v - min) / (max - min)) * innerH;
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  const first = points[0];
  const last = points[points.length - 1];
  const label = points.length
    ? `${title}: from ${fmt(first.value)} ${unit} on ${first.label} to ${fmt(last.value)} ${unit} on ${last.label}`
    : `${title}: no data yet`;
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
        <line x1={PAD.left} y1={PAD.top + innerH} x2={W - PAD.right} y2={PAD.top + innerH} className="axis" />
        <text x={PAD.left - 4} y={PAD.top + 8} className="tick" textAnchor="end">
          {fmt(max)}
        </text>
        <text x={PAD.left - 4} y={PAD.top + innerH} className="tick" textAnchor="end">
          {fmt(min)}
        </text>
        {first && (
          <text x={PAD.left} y={H - 6} className="tick">
            {first.label}
          </text>
        )}
        {last && points.length > 1 && (
          <text x={W - PAD.right} y={H - 6} className="tick" textAnchor="end">
            {last.label}
          </text>
        )}
        <path d={path} className="line" />
        {points.map((p, i) => (
          <circle key={i} cx={x(i)} cy={y(p.value)} r={3} className="dot">
            <title>
              {p.label}: {fmt(p.value)} {unit}
            </title>
          </circle>
        ))}
      </svg>
      <DataTable title={title} points={points} unit={unit} />
    </figure>
  );
}

export function BarChart({ title, points, unit, max: fixedMax }: { title: string; points: Point[]; unit: string; max?: number }) {
  const max = fixedMax ?? Math.max(1, ...points.map((p) => p.value));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / Math.max(1, points.length);
  const barW = Math.max(2, Math.min(28, slot * 0.7));
  const label = `${title}: ${points.map((p) => `${p.label} ${fmt(p.value)} ${unit}`).join(", ") || "no data yet"}`;
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
        <line x1={PAD.left} y1={PAD.top + innerH} x2={W - PAD.right} y2={PAD.top + innerH} className="axis" />
        <text x={PAD.left - 4} y={PAD.top + 8} className="tick" textAnchor="end">
          {fmt(max)}
        </text>
        <text x={PAD.left - 4} y={PAD.top + innerH} className="tick" textAnchor="end">
          0
        </text>
        {points.map((p, i) => {
          const h = (Math.min(p.value, max) / max) * innerH;
          const cx = PAD.left + slot * i + slot / 2;
          return (
            <g key={i}>
              <rect x={cx - barW / 2} y={PAD.top + innerH - h} width={barW} height={h} className="bar">
                <title>
                  {p.label}: {fmt(p.value)} {unit}
                </title>
              </rect>
              {points.length <= 12 && (
                <text x={cx} y={H - 6} className="tick" textAnchor="middle">
                  {p.label}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <DataTable title={title} points={points} unit={unit} />
    </figure>
  );
}
