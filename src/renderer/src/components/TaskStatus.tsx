/** A long task's progress (announced politely) and its error (announced at once): one shape for Chat's review and Export. */
export function TaskStatus(p: {
  id: string;
  busy: boolean;
  /** What is happening, e.g. "Reviewing: 2 of 5 done"; the bar follows value/max. */
  label: string;
  value?: number;
  max?: number;
  error?: string;
}) {
  return (
    <>
      <div aria-live="polite">
        {p.busy && (
          <>
            <label htmlFor={p.id}>{p.label}</label>
            <progress id={p.id} max={p.max ?? 1} value={p.value ?? 0} />
          </>
        )}
      </div>
      {p.error && (
        <p role="alert" className="error" data-testid={`${p.id}-error`}>
          {p.error}
        </p>
      )}
    </>
  );
}
