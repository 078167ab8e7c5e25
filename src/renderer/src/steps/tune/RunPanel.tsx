/** The chosen run: its state, progress, time left, device, loss chart, and pause/resume/cancel. */
import { useEffect, useMemo, useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { MetricsPoint, RunSummary, TuneEvent } from '../../../../shared/contract.js';
import { DEVICE_LABELS, type DeviceName } from '../../../../shared/devices.js';
import { attune, errorText } from '../../api.js';
import { formatDuration, formatEpoch, formatNumber } from '../../format.js';
import { outcomeText } from '../../explain.js';
import { runDataText, runTitle, STATE_TEXT } from '../../runs.js';
import { ConfirmDialog } from '../../components/ConfirmDialog.js';

export const LIVE_STATES: RunSummary['state'][] = ['running', 'pausing', 'cancelling', 'queued'];

/** The chart points and latest step of one run: what is saved, then its live events. */
function useRunProgress(project: string, runId: string, onTokens: (tokens: string[]) => void) {
  const [points, setPoints] = useState<MetricsPoint[]>([]);
  const [last, setLast] = useState<Extract<TuneEvent, { type: 'step' }>>();
  const [device, setDevice] = useState<{ device: string; why: string }>();
  useEffect(() => {
    setPoints([]);
    setLast(undefined);
    setDevice(undefined);
    void attune.tune.metrics({ project, runId }).then((m) => setPoints((p) => (p.length ? p : m)));
    return attune.tune.onProgress(({ project: p, runId: r, event }) => {
      if (p !== project || r !== runId) return;
      if (event.type === 'step') {
        setLast(event);
        const r = event.rewards;
        setPoints((ps) => [
          ...ps,
          { step: event.step, loss: event.loss, tokensPerSecond: event.tokensPerSecond, ...(r ? { rewardsChosen: r.chosen, rewardsRejected: r.rejected, rewardMargin: r.margin, rewardAccuracy: r.accuracy } : {}) },
        ]);
      } else if (event.type === 'eval') {
        setPoints((ps) => [...ps, { step: event.step, valLoss: event.valLoss }]);
      } else if (event.type === 'device') {
        setDevice({ device: event.device, why: event.why });
      } else if (event.type === 'tokens') {
        onTokens(event.tokens);
      }
    });
  }, [project, runId]);
  return { points, last, device };
}

export function RunPanel(p: {
  project: string;
  run: RunSummary;
  act: (f: () => Promise<RunSummary>) => Promise<void>;
  onTokens: (tokens: string[]) => void;
  /** After the person confirmed and main removed the run. */
  onDiscarded: (runId: string) => void;
}) {
  const { project, run: current, act } = p;
  const [confirmDiscard, setConfirmDiscard] = useState(false);
  const [discardError, setDiscardError] = useState<string>();
  const discard = async () => {
    setConfirmDiscard(false);
    try {
      await attune.tune.discard({ project, runId: current.runId });
      p.onDiscarded(current.runId);
    } catch (e) {
      setDiscardError(errorText(e));
    }
  };
  const { points, last, device } = useRunProgress(project, current.runId, p.onTokens);
  const live = LIVE_STATES.includes(current.state);
  const step = last?.step ?? current.step ?? 0;
  const total = last?.totalSteps ?? current.totalSteps;
  const chart = useMemo(() => mergeByStep(points), [points]);
  const deviceName = device?.device ?? current.device;
  // Preference tuning (dpo, orpo) reports rewards: charted next to the loss.
  const rewards = chart.some((x) => x.rewardMargin !== undefined);

  return (
    <section className="card" aria-labelledby="run-h">
      <h2 id="run-h" tabIndex={-1}>
        {runTitle(current)}: <span data-testid="run-state">{STATE_TEXT[current.state]}</span>
      </h2>
      {current.message && <p className={current.state === 'done' ? 'ok' : 'error'}>{current.message}</p>}
      {current.data && (
        <p className="muted" data-testid="run-data">
          {runDataText(current)}
        </p>
      )}
      {(current.state === 'done' || current.state === 'cancelled') && current.stoppedBecause && (
        <p className="outcome" data-testid="run-outcome">
          {outcomeText(current)}
        </p>
      )}
      {current.trainedTokens && current.trainedTokens.length > 0 && (
        <p className="muted" data-testid="trained-tokens">
          Also {live ? 'teaching' : 'taught'} the model {current.trainedTokens.length === 1 ? 'a token' : 'tokens'} it had never learned: {current.trainedTokens.join(' ')}.
        </p>
      )}
      <div aria-live="polite">
        {total ? (
          <>
            <label htmlFor="tune-progress">
              Step {step} of {total}
              {live && last ? ` — time left: ${formatDuration(last.etaSeconds)}` : ''}
            </label>
            <progress id="tune-progress" max={total} value={step} />
          </>
        ) : live ? (
          <p>Preparing the model (the first time this takes a little longer)…</p>
        ) : null}
        {last && (
          <p className="muted" data-testid="run-numbers">
            Loss {formatNumber(last.loss, 3)} · {formatNumber(last.tokensPerSecond, 0)} tokens per second · {formatEpoch(last.epoch)}
          </p>
        )}
      </div>
      {deviceName && (
        <p className="muted">
          Running on {DEVICE_LABELS[deviceName as DeviceName] ?? deviceName}, because {device?.why ?? current.deviceWhy}.
        </p>
      )}
      <figure className="chart" aria-labelledby="chart-caption">
        <figcaption id="chart-caption">How far the model's answers are from yours (loss; lower is better). The held-out line shows examples it never learned from.</figcaption>
        <div className="chart-box" data-testid="loss-chart" data-points={chart.length}>
          <ResponsiveContainer width="100%" height={260}>
            <LineChart data={chart} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
              <XAxis dataKey="step" stroke="var(--muted)" label={{ value: 'step', position: 'insideBottomRight', offset: -4 }} />
              <YAxis stroke="var(--muted)" domain={['auto', 'auto']} />
              <Tooltip contentStyle={{ background: 'var(--surface)', color: 'var(--text)' }} />
              <Legend />
              <Line type="monotone" dataKey="loss" name="Training loss" stroke="var(--accent)" dot={false} isAnimationActive={false} connectNulls />
              <Line type="monotone" dataKey="valLoss" name="Held-out loss" stroke="var(--accent2)" isAnimationActive={false} connectNulls />
            </LineChart>
          </ResponsiveContainer>
        </div>
      </figure>
      {rewards && <RewardChart points={chart} />}
      <div className="row">
        {current.state === 'running' && (
          <>
            <button type="button" onClick={() => void act(() => attune.tune.pause({ project, runId: current.runId }))}>
              Pause
            </button>
            <button type="button" onClick={() => void act(() => attune.tune.cancel({ project, runId: current.runId }))}>
              Cancel
            </button>
          </>
        )}
        {current.resumable && (
          <button type="button" className="primary" onClick={() => void act(() => attune.tune.resume({ project, runId: current.runId }))}>
            Resume from the last saved point
          </button>
        )}
        {!live && (
          <button type="button" id="discard-run" onClick={() => setConfirmDiscard(true)}>
            Discard this run
          </button>
        )}
      </div>
      {discardError && (
        <p role="alert" className="error">
          {discardError}
        </p>
      )}
      {confirmDiscard && (
        <ConfirmDialog
          id="discard"
          title="Discard this run?"
          returnTo={() => document.getElementById('discard-run')}
          choices={[
            { label: 'Discard it', primary: true, onChoose: () => void discard() },
            { label: 'Keep it', onChoose: () => setConfirmDiscard(false) },
          ]}
        >
          <p>
            The {runTitle(current)} and what it learned are deleted from this project{current.resumable ? '; it can no longer be resumed' : ''}. Copies you already
            saved in the Export step stay.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

/** One row per step with the training and held-out loss side by side. */
export function mergeByStep(points: MetricsPoint[]): MetricsPoint[] {
  const byStep = new Map<number, MetricsPoint>();
  for (const p of points) byStep.set(p.step, { ...byStep.get(p.step), ...p });
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** Preference tuning's rewards per step: the margin between the better and the worse answer, and how often the better one wins. */
function RewardChart({ points }: { points: MetricsPoint[] }) {
  const data = points.filter((x) => x.rewardMargin !== undefined).map((x) => ({ ...x, rewardPercent: x.rewardAccuracy !== undefined ? x.rewardAccuracy * 100 : undefined }));
  return (
    <figure className="chart" aria-labelledby="reward-caption">
      <figcaption id="reward-caption">
        How clearly the model prefers your better answers (reward margin; higher is better) and how often it prefers them (accuracy, in % of pairs).
      </figcaption>
      <div className="chart-box" data-testid="reward-chart" data-points={data.length}>
        <ResponsiveContainer width="100%" height={220}>
          <LineChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
            <XAxis dataKey="step" stroke="var(--muted)" label={{ value: 'step', position: 'insideBottomRight', offset: -4 }} />
            <YAxis yAxisId="margin" stroke="var(--muted)" domain={['auto', 'auto']} />
            <YAxis yAxisId="accuracy" orientation="right" stroke="var(--muted)" domain={[0, 100]} unit="%" />
            <Tooltip contentStyle={{ background: 'var(--surface)', color: 'var(--text)' }} />
            <Legend />
            <Line yAxisId="margin" type="monotone" dataKey="rewardMargin" name="Reward margin" stroke="var(--accent)" dot={false} isAnimationActive={false} connectNulls />
            <Line yAxisId="accuracy" type="monotone" dataKey="rewardPercent" name="Reward accuracy (%)" stroke="var(--accent2)" dot={false} isAnimationActive={false} connectNulls />
          </LineChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
