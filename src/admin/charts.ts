/**
 * Geometry for the dashboard's SVG charts. This module only computes numbers and plain-text labels;
 * the Eta templates draw them (every value through `<%= %>`, so labels such as provider names are
 * escaped). No chart library, nothing loaded from another origin.
 */
import { DAY_MS, dayOf, type DailyCount } from '../audit/stats.ts';

export const FAILURE_COLOR = '#d92d20';
const METHOD_COLORS = ['#1662dd', '#0e9384', '#7a5af8', '#f79009', '#ee46bc', '#667085'];
const LOCAL_COLOR = '#0e9384';
const UNKNOWN_COLOR = '#98a2b3';

export interface LegendEntry { label: string; color: string; kind: 'bar' | 'line' }
export interface Rect { x: number; y: number; width: number; height: number; color: string }
export interface Tick { y: number; label: string }

export interface DailyChart {
  width: number;
  height: number;
  plot: { left: number; top: number; right: number; bottom: number };
  /** One entry per day: its stacked success segments, a hover text, and a transparent hit area. */
  days: { label: string; title: string; segments: Rect[]; hit: Rect }[];
  failure: { points: string; dots: { cx: number; cy: number; count: number }[] };
  yTicks: Tick[];
  xLabels: { x: number; label: string }[];
  legend: LegendEntry[];
  totals: { successes: number; failures: number; failuresToday: number };
  /** A day whose failures stand out from the usual level, or null. */
  spike: { label: string; count: number; usual: number } | null;
}

const dayLabel = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
const longDayLabel = new Intl.DateTimeFormat('en-US', { weekday: 'short', month: 'short', day: 'numeric', timeZone: 'UTC' });

/** A round axis maximum (1, 2 or 5 times a power of ten per step) with `ticks` steps. */
export function niceScale(max: number, ticks = 4): { max: number; step: number } {
  if (max <= 0) return { max: ticks, step: 1 };
  const rough = max / ticks;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const stepInt = Math.max(1, Math.round(step));
  return { max: stepInt * Math.ceil(max / stepInt), step: stepInt };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? 0 : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function methodColor(method: string, index: number): string {
  if (method === 'local') return LOCAL_COLOR;
  if (method === '') return UNKNOWN_COLOR;
  return METHOD_COLORS.filter((c) => c !== LOCAL_COLOR)[index % (METHOD_COLORS.length - 1)]!;
}

/**
 * Sign-ins per day over the last `days` UTC days, successes stacked by method, failures as a red
 * line on the same scale, so a spike of failures stands out next to the usual traffic.
 */
export function dailyChart(
  rows: DailyCount[],
  options: { days: number; now?: number; methodLabel: (method: string) => string },
): DailyChart {
  const width = 760;
  const height = 250;
  const plot = { left: 44, top: 14, right: width - 12, bottom: height - 30 };
  const today = dayOf(options.now ?? Date.now());
  const first = today - options.days + 1;
  const dayIndexes = Array.from({ length: options.days }, (_, i) => first + i);

  const successes = new Map<string, number[]>();
  const failures = new Array<number>(options.days).fill(0);
  for (const row of rows) {
    const i = row.day - first;
    if (i < 0 || i >= options.days) continue;
    if (row.type === 'login_failure') {
      failures[i]! += row.count;
    } else {
      if (!successes.has(row.method)) successes.set(row.method, new Array<number>(options.days).fill(0));
      successes.get(row.method)![i]! += row.count;
    }
  }
  // Busiest method at the bottom of each stack, and first in the legend.
  const methods = [...successes.keys()].sort((a, b) => sum(successes.get(b)!) - sum(successes.get(a)!) || a.localeCompare(b));
  let providerIndex = 0;
  const colors = new Map(methods.map((m) => [m, methodColor(m, m === 'local' || m === '' ? 0 : providerIndex++)]));

  const stackTotals = dayIndexes.map((_, i) => methods.reduce((acc, m) => acc + successes.get(m)![i]!, 0));
  const scale = niceScale(Math.max(...stackTotals, ...failures, 1));
  const plotHeight = plot.bottom - plot.top;
  const y = (value: number) => plot.bottom - (value / scale.max) * plotHeight;
  const slot = (plot.right - plot.left) / options.days;
  const barWidth = Math.max(2, slot * 0.64);
  const round = (n: number) => Math.round(n * 10) / 10;

  const chartDays = dayIndexes.map((day, i) => {
    const x = plot.left + i * slot + (slot - barWidth) / 2;
    let base = 0;
    const segments: Rect[] = [];
    const parts: string[] = [];
    for (const method of methods) {
      const count = successes.get(method)![i]!;
      if (count === 0) continue;
      const top = y(base + count);
      segments.push({ x: round(x), y: round(top), width: round(barWidth), height: round(y(base) - top), color: colors.get(method)! });
      parts.push(`${options.methodLabel(method)} ${count}`);
      base += count;
    }
    const date = new Date(day * DAY_MS);
    const title = `${longDayLabel.format(date)}: ${stackTotals[i]} sign-in${stackTotals[i] === 1 ? '' : 's'}`
      + `${parts.length > 1 ? ` (${parts.join(', ')})` : parts.length === 1 ? ` (${parts[0]})` : ''}`
      + `, ${failures[i]} failed`;
    return {
      label: dayLabel.format(date),
      title,
      segments,
      hit: { x: round(plot.left + i * slot), y: plot.top, width: round(slot), height: plotHeight, color: 'transparent' },
    };
  });

  const centers = dayIndexes.map((_, i) => round(plot.left + i * slot + slot / 2));
  const failure = {
    points: failures.map((count, i) => `${centers[i]},${round(y(count))}`).join(' '),
    dots: failures.flatMap((count, i) => (count > 0 ? [{ cx: centers[i]!, cy: round(y(count)), count }] : [])),
  };
  const yTicks: Tick[] = [];
  for (let v = 0; v <= scale.max; v += scale.step) yTicks.push({ y: round(y(v)), label: String(v) });
  // A label every 5 days, ending on today.
  const xLabels = dayIndexes.flatMap((day, i) =>
    (options.days - 1 - i) % 5 === 0 ? [{ x: centers[i]!, label: i === options.days - 1 ? 'Today' : dayLabel.format(new Date(day * DAY_MS)) }] : []);

  const legend: LegendEntry[] = methods.map((m) => ({ label: options.methodLabel(m), color: colors.get(m)!, kind: 'bar' as const }));
  legend.push({ label: 'Failed sign-ins', color: FAILURE_COLOR, kind: 'line' });

  const usual = median(failures);
  const peak = failures.reduce((best, count, i) => (count > failures[best]! ? i : best), 0);
  const spike = failures[peak]! >= 10 && failures[peak]! >= 3 * Math.max(usual, 1)
    ? { label: longDayLabel.format(new Date(dayIndexes[peak]! * DAY_MS)), count: failures[peak]!, usual: Math.round(usual) }
    : null;

  return {
    width, height, plot, days: chartDays, failure, yTicks, xLabels, legend,
    totals: { successes: sum(stackTotals), failures: sum(failures), failuresToday: failures.at(-1) ?? 0 },
    spike,
  };
}

export interface CodeChart {
  width: number;
  height: number;
  rows: { y: number; label: string; count: number; barWidth: number; title: string }[];
  labelWidth: number;
  barLeft: number;
}

/** Failures by error code as horizontal bars, longest first. */
export function codeChart(items: { code: string; count: number }[], describe: (code: string) => string): CodeChart {
  const width = 760;
  const rowHeight = 30;
  const labelWidth = 210;
  const barLeft = labelWidth + 8;
  const barMax = width - barLeft - 60;
  const max = Math.max(1, ...items.map((i) => i.count));
  const total = sum(items.map((i) => i.count));
  return {
    width,
    height: Math.max(1, items.length) * rowHeight + 4,
    labelWidth,
    barLeft,
    rows: items.map((item, i) => ({
      y: 2 + i * rowHeight,
      label: item.code,
      count: item.count,
      barWidth: Math.max(2, Math.round((item.count / max) * barMax)),
      title: `${item.code}: ${item.count} (${Math.round((item.count / Math.max(total, 1)) * 100)}%): ${describe(item.code)}`,
    })),
  };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
