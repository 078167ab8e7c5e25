/**
 * "Measured on this computer: about 4 min for one pass over your 297 examples (1.3 s per step)".
 * Measured on request (a Measure button), not when the step opens: measuring runs real training
 * steps, which keeps the computer busy for seconds to minutes with a larger model.
 */
import { useEffect, useState } from 'react';
import type { Advanced, PassEstimate as Estimate, PresetName } from '../../../../shared/contract.js';
import { attune, errorText } from '../../api.js';
import { formatDuration } from '../../format.js';

export function passEstimateText(e: Estimate): string {
  return `Measured on this computer: ${formatDuration(e.epochSeconds)} for one pass over your ${e.trainExamples} examples (${e.secondsPerStep.toFixed(1)} s per step)`;
}

export function PassEstimate({ project, modelPath, preset, advanced }: { project: string; modelPath?: string; preset: PresetName; advanced: Partial<Advanced> }) {
  const [estimate, setEstimate] = useState<Estimate>();
  const [progress, setProgress] = useState<{ done: number; of: number }>();
  const [measuring, setMeasuring] = useState(false);
  const [error, setError] = useState<string>();
  const key = JSON.stringify([modelPath, preset, advanced]);
  useEffect(() => setEstimate(undefined), [key]);
  useEffect(() => attune.tune.onEstimateProgress((p) => p.project === project && setProgress({ done: p.done, of: p.of })), [project]);
  if (!modelPath) return null;
  const measure = async () => {
    setError(undefined);
    setProgress(undefined);
    setMeasuring(true);
    try {
      setEstimate(await attune.tune.estimate({ project, modelPath, preset, advanced }));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setMeasuring(false);
    }
  };
  return (
    <div className="pass-estimate" data-testid="pass-estimate">
      {estimate && <p>{passEstimateText(estimate)}</p>}
      {measuring ? (
        <p className="row muted">
          Measuring a few training steps{progress ? ` (${progress.done} of ${progress.of})` : ''}…
          <button type="button" onClick={() => void attune.tune.estimateCancel({ project })}>
            Cancel
          </button>
        </p>
      ) : (
        !estimate && (
          <p className="row muted">
            How long will one pass take here?
            <button type="button" onClick={() => void measure()}>
              Measure
            </button>
          </p>
        )
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  );
}
