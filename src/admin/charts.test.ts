import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DAY_MS } from '../audit/stats.ts';
import { codeChart, dailyChart, FAILURE_COLOR, niceScale } from './charts.ts';

test('niceScale picks round steps that cover the maximum', () => {
  assert.deepEqual(niceScale(0), { max: 4, step: 1 });
  assert.deepEqual(niceScale(3), { max: 3, step: 1 });
  assert.deepEqual(niceScale(17), { max: 20, step: 5 });
  assert.deepEqual(niceScale(230), { max: 300, step: 100 });
  assert.deepEqual(niceScale(1234), { max: 1500, step: 500 });
});

const now = Date.UTC(2026, 2, 30, 15);
const today = Math.floor(now / DAY_MS);
const label = (m: string) => (m === 'local' ? 'Local password' : m === 'okta' ? 'Okta' : m);

test('daily chart: one slot per day, stacks by method, failures as a line, a spike called out', () => {
  const chart = dailyChart([
    { day: today, type: 'login_success', method: 'okta', count: 6 },
    { day: today, type: 'login_success', method: 'local', count: 2 },
    { day: today - 1, type: 'login_success', method: 'okta', count: 4 },
    { day: today - 3, type: 'login_failure', method: 'local', count: 40 },
    ...Array.from({ length: 20 }, (_, i) => ({ day: today - 5 - i, type: 'login_failure' as const, method: 'local', count: 2 })),
    { day: today - 45, type: 'login_success', method: 'okta', count: 99 }, // outside the window
  ], { days: 30, now, methodLabel: label });

  assert.equal(chart.days.length, 30);
  assert.equal(chart.days.at(-1)!.segments.length, 2, 'today: two methods stacked');
  const [bottom, top] = chart.days.at(-1)!.segments;
  assert.ok(bottom!.height > top!.height, 'the busier method at the bottom');
  assert.equal(Math.round(bottom!.y), Math.round(top!.y + top!.height), 'stacked without a gap');
  assert.match(chart.days.at(-1)!.title, /^Mon, Mar 30: 8 sign-ins \(Okta 6, Local password 2\), 0 failed$/);
  assert.deepEqual(chart.legend.map((l) => l.label), ['Okta', 'Local password', 'Failed sign-ins']);
  assert.equal(chart.legend.at(-1)!.color, FAILURE_COLOR);
  assert.equal(chart.failure.points.split(' ').length, 30);
  assert.equal(chart.failure.dots.length, 21);
  assert.equal(chart.yTicks.at(-1)!.label, '40');
  assert.deepEqual(chart.totals, { successes: 12, failures: 80, failuresToday: 0 });
  assert.deepEqual(chart.spike, { label: 'Fri, Mar 27', count: 40, usual: 2 });
  assert.equal(chart.xLabels.at(-1)!.label, 'Today');
  for (const day of chart.days) for (const s of day.segments) assert.ok(s.y >= chart.plot.top && s.y + s.height <= chart.plot.bottom + 0.2);
});

test('daily chart: no data draws an empty, valid chart without a spike', () => {
  const chart = dailyChart([], { days: 30, now, methodLabel: label });
  assert.equal(chart.days.every((d) => d.segments.length === 0), true);
  assert.equal(chart.spike, null);
  assert.deepEqual(chart.legend.map((l) => l.label), ['Failed sign-ins']);
  assert.ok(!chart.failure.points.includes('NaN'));
});

test('code chart: bars proportional to the count, longest first as given', () => {
  const chart = codeChart([{ code: 'INVALID_CREDENTIALS', count: 10 }, { code: 'STATE_INVALID', count: 5 }], () => 'meaning');
  assert.equal(chart.rows.length, 2);
  assert.equal(chart.rows[0]!.barWidth, 2 * chart.rows[1]!.barWidth);
  assert.equal(chart.rows[0]!.title, 'INVALID_CREDENTIALS: 10 (67%): meaning');
  assert.ok(chart.rows[1]!.y > chart.rows[0]!.y);
});
