// The plan page's RPO chart: uPlot (45 KB, canvas, draws an hour of samples in a millisecond).
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type * as Api from '../../api.ts';
import { seconds } from './components.tsx';

export function LagChart({ samples }: { samples: Api.LagSample[] }) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const data = (): uPlot.AlignedData => [samples.map(([time]) => time), samples.map(([, lag]) => lag)];

  useEffect(() => {
    if (!box.current) return;
    const width = () => Math.max(300, box.current?.clientWidth ?? 600);
    chart.current = new uPlot({
      width: width(), height: 180,
      series: [{}, { label: 'RPO', stroke: '#2f6fde', width: 1.5, fill: 'rgba(47,111,222,0.12)', value: (_u, value) => (value === null ? '—' : seconds(value)) }],
      axes: [{}, { values: (_u, splits) => splits.map((value) => seconds(value)), size: 60 }],
      // Always the last hour, however few samples there are yet.
      scales: { x: { time: true, range: () => [Date.now() / 1000 - 3600, Date.now() / 1000] }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.2)] } },
      legend: { show: true },
    }, data(), box.current);
    const resize = () => chart.current?.setSize({ width: width(), height: 180 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      chart.current?.destroy();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    chart.current?.setData(data());
  }, [samples]);

  return <div class="chart" ref={box} aria-label="RPO over the last hour" />;
}
