import { percent } from "../format.js";

export function StatusBadge({ status }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}

/** The label with the model's confidence, or the mark of an operator's correction; and whether to review it. */
export function CategoryBadge({ category }) {
  if (!category) return <span className="muted">not classified yet</span>;
  return (
    <span className="category">
      <strong>{category.label}</strong>{" "}
      {category.corrected ? (
        <span className="badge corrected">corrected</span>
      ) : (
        <span className="muted">{percent(category.confidence)}</span>
      )}
      {category.needs_review && <span className="badge review">needs review</span>}
    </span>
  );
}
