// Small display helpers shared by the views.

export const STAGES = ["queue_wait", "classify", "score", "notify", "total"];

export const STAGE_NAMES = {
  queue_wait: "Queue wait",
  classify: "Classify",
  score: "Score",
  notify: "Notify",
  total: "Total",
};

export function percent(p) {
  return p == null ? "–" : `${Math.round(p * 100)}%`;
}

export function ms(value) {
  if (value == null) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 1 : 0)} ms`;
}

export function clock(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString();
}

export function excerpt(text, length = 120) {
  return text.length > length ? `${text.slice(0, length).trimEnd()}…` : text;
}

/** "not_needed" → "not needed" */
export const words = (identifier) => identifier.replaceAll("_", " ");

/** A span of seconds as people read it: "45s", "3m 12s", "2h 05m", "1d 3h"; "–" when unknown. */
export function duration(seconds) {
  if (seconds == null) return "–";
  const s = Math.max(0, Math.floor(seconds));
  const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** An instant as a weekday and a 24-hour local time: "Mon 09:45". */
export function dayTime(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleString([], {
    weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
}

/** Open (business) time in hours, never days: a day of it is not a day on the calendar ("40h 00m"). */
export function openDuration(seconds) {
  if (seconds == null || seconds < 86400) return duration(seconds);
  const s = Math.floor(seconds);
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
