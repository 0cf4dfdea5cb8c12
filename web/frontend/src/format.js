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
