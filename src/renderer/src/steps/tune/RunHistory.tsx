/** The project's other runs, named in words; choosing one shows it above. */
import type { RunSummary } from '../../../../shared/contract.js';
import { runLabel } from '../../runs.js';

export function RunHistory(p: { runs: RunSummary[]; currentId?: string; onChoose: (runId: string) => void }) {
  const others = p.runs.filter((r) => r.runId !== p.currentId);
  if (others.length === 0) return null;
  return (
    <section className="card" aria-labelledby="runs-h">
      <h2 id="runs-h">Earlier runs</h2>
      <ul className="plain">
        {others.map((r) => (
          <li key={r.runId}>
            <button type="button" onClick={() => p.onChoose(r.runId)}>
              Show the {runLabel(r)}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
