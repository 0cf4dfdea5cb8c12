import { useQuery } from "@tanstack/react-query";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

import * as api from "../api.js";
import { ms, STAGE_NAMES, STAGES } from "../format.js";

/** p50/p95 per pipeline stage over the last 200 done tickets, throughput, and a way to Flower. */
export default function LatencyView({ flowerUrl }) {
  const stats = useQuery({ queryKey: ["stats"], queryFn: api.getStats, refetchInterval: 5000 });

  return (
    <section className="card">
      <div className="card-head">
        <h2>Latency</h2>
        {flowerUrl && <a href={flowerUrl} target="_blank" rel="noreferrer">Workers in Flower ↗</a>}
      </div>
      <LatencyBody stats={stats} />
    </section>
  );
}

function LatencyBody({ stats }) {
  if (stats.isPending) return <p className="muted">Loading latency…</p>;
  if (!stats.data) return <p className="error" role="alert">{stats.error.message}</p>;
  const { count, throughput_per_s: throughput, stages } = stats.data;
  if (count === 0) return <p className="empty">No finished tickets yet.</p>;
  const rows = STAGES.filter((stage) => stages[stage]).map((stage) => ({ stage: STAGE_NAMES[stage], ...stages[stage] }));
  return (
    <>
      <div className="figures">
        <Figure label="throughput" value={`${throughput} /s`} />
        <Figure label="p50 total" value={ms(stages.total?.p50)} />
        <Figure label="p95 total" value={ms(stages.total?.p95)} />
      </div>
      <p className="muted small">Over the last {count} finished tickets.</p>
      <ResponsiveContainer width="100%" height={220}>
        <BarChart data={rows} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid vertical={false} strokeDasharray="3 3" />
          <XAxis dataKey="stage" interval={0} tick={{ fontSize: 11 }} />
          <YAxis unit=" ms" width={64} tick={{ fontSize: 12 }} />
          <Tooltip formatter={(value) => ms(value)} />
          <Legend />
          <Bar dataKey="p50" fill="#4263eb" radius={[3, 3, 0, 0]} />
          <Bar dataKey="p95" fill="#f08c00" radius={[3, 3, 0, 0]} />
        </BarChart>
      </ResponsiveContainer>
    </>
  );
}

function Figure({ label, value }) {
  return (
    <div className="figure">
      <span className="figure-value">{value}</span>
      <span className="muted small">{label}</span>
    </div>
  );
}
