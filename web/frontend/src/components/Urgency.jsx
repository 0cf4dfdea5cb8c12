/** Urgency level (coloured) and score; the signals that fired show on hover or keyboard focus. */
export function UrgencyBadge({ urgency }) {
  if (!urgency) return <span className="muted">–</span>;
  return (
    <span className="urgency" tabIndex={0}>
      <span className={`badge level-${urgency.level}`}>{urgency.level}</span>{" "}
      <span className="score">{urgency.score.toFixed(2)}</span>
      {urgency.signals.length > 0 && (
        <span className="popover" role="tooltip">
          <SignalList signals={urgency.signals} />
        </span>
      )}
    </span>
  );
}

/** Each signal that fired: its tier, the phrase it matched, and what it added to the score. */
export function SignalList({ signals }) {
  if (signals.length === 0) return <p className="muted">No severity signal fired.</p>;
  return (
    <ul className="signals">
      {signals.map((signal) => (
        <li key={`${signal.tier}:${signal.phrase}`}>
          <span className={`tier tier-${signal.tier}`}>{signal.tier}</span>
          <span className="phrase">“{signal.phrase}”</span>
          <span className="weight">{signal.weight >= 0 ? "+" : "−"}{Math.abs(signal.weight).toFixed(2)}</span>
        </li>
      ))}
    </ul>
  );
}
