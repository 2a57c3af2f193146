import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { TrainStepMetrics } from '../../engine-client';
import { useApp } from '../store';

interface Series {
  label: string;
  value: (m: TrainStepMetrics) => number;
  colour: string;
  dash?: number[];
}

interface ChartSpec {
  id: string;
  title: string;
  series: Series[];
  grpo?: boolean;
  /** A fixed y range (rates). */
  range?: [number, number];
}

const CHARTS: ChartSpec[] = [
  {
    id: 'reward',
    title: 'Reward (mean ± std)',
    grpo: true,
    series: [
      { label: 'mean', value: (m) => m.reward, colour: '#4f46e5' },
      { label: '+std', value: (m) => m.reward + m.rewardStd, colour: '#a5b4fc', dash: [4, 4] },
      { label: '−std', value: (m) => m.reward - m.rewardStd, colour: '#a5b4fc', dash: [4, 4] },
    ],
  },
  {
    id: 'accuracy',
    title: 'Accuracy and format rate',
    grpo: true,
    range: [0, 1],
    series: [
      { label: 'accuracy', value: (m) => m.accuracy, colour: '#137a3d' },
      { label: 'format', value: (m) => m.formatRate, colour: '#d97706' },
    ],
  },
  {
    id: 'kl',
    title: 'KL to the base',
    grpo: true,
    series: [{ label: 'KL', value: (m) => m.kl, colour: '#b42318' }],
  },
  { id: 'loss', title: 'Loss', series: [{ label: 'loss', value: (m) => m.loss, colour: '#0e7490' }] },
  {
    id: 'length',
    title: 'Completion length (tokens)',
    grpo: true,
    series: [{ label: 'tokens', value: (m) => m.completionLength, colour: '#7c3aed' }],
  },
  {
    id: 'time',
    title: 'Step time (s)',
    series: [{ label: 'seconds', value: (m) => m.stepMs / 1000, colour: '#475569' }],
  },
];

function data(spec: ChartSpec, log: TrainStepMetrics[]): uPlot.AlignedData {
  return [log.map((m) => m.step), ...spec.series.map((s) => log.map((m) => s.value(m)))];
}

function Chart({ spec, data: rows, points }: { spec: ChartSpec; data: uPlot.AlignedData; points: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const p = new uPlot(
      {
        width: Math.max(220, el.clientWidth || 280),
        height: 150,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false }, ...(spec.range ? { y: { range: spec.range } } : {}) },
        // Steps are whole numbers.
        axes: [{ label: 'step', size: 36, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }, { size: 48 }],
        series: [
          { label: 'step' },
          ...spec.series.map((s) => ({
            label: s.label,
            stroke: s.colour,
            width: 2,
            dash: s.dash,
            points: { show: true, size: 5 },
          })),
        ],
      },
      [[], ...spec.series.map(() => [])],
      el,
    );
    plot.current = p;
    const ro = new ResizeObserver(() => p.setSize({ width: Math.max(220, el.clientWidth), height: 150 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      p.destroy();
      plot.current = null;
    };
  }, [spec]);
  useEffect(() => {
    plot.current?.setData(rows);
  }, [rows]);
  return (
    <figure className="ft-chart" data-testid={`ft-chart-${spec.id}`} data-points={points}>
      <figcaption>{spec.title}</figcaption>
      <div ref={box} />
    </figure>
  );
}

/** Live charts of the run's metrics, one point a step. */
const HELD_OUT: ChartSpec = {
  id: 'heldout',
  title: 'Held-out accuracy and format rate',
  range: [0, 1],
  series: [
    { label: 'accuracy', value: () => 0, colour: '#137a3d' },
    { label: 'format', value: () => 0, colour: '#d97706' },
  ],
};

export function MetricCharts() {
  const log = useApp((s) => s.log);
  const evalHistory = useApp((s) => s.evalHistory);
  const mode = useApp((s) => s.trainSettings.mode);
  const held = useMemo<uPlot.AlignedData>(
    () => [
      evalHistory.map((p) => p.step),
      evalHistory.map((p) => p.accuracy),
      evalHistory.map((p) => p.formatRate),
    ],
    [evalHistory],
  );
  if (log.length === 0 && evalHistory.length === 0)
    return (
      <p className="muted" data-testid="ft-charts-empty">
        The charts fill in as the run steps: one point a step.
      </p>
    );
  return (
    <div className="ft-charts" data-testid="ft-charts">
      {CHARTS.filter((c) => !c.grpo || mode === 'grpo').map((c) => (
        <MetricChart key={c.id} spec={c} log={log} />
      ))}
      {evalHistory.length > 0 && <Chart spec={HELD_OUT} data={held} points={evalHistory.length} />}
    </div>
  );
}

function MetricChart({ spec, log }: { spec: ChartSpec; log: TrainStepMetrics[] }) {
  const rows = useMemo(() => data(spec, log), [spec, log]);
  return <Chart spec={spec} data={rows} points={log.length} />;
}
