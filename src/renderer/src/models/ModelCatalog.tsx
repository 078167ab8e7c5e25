/**
 * The Model step's "Recommended to download" group: the catalog with size, licence and memory to
 * tune on this computer, and Hub downloads with a progress bar, speed, time left, Cancel and
 * Resume. Downloading is the only thing in Attune that uses the internet, so it says so plainly.
 */
import { useEffect, useState } from 'react';
import type { HubPullEvent, SourceModel } from '../../../shared/hub.js';
import { attune, errorText } from '../api.js';
import { formatBytes, formatCount, formatDuration } from '../format.js';
import { HubEndpoint } from './HubEndpoint.js';
import { HubToken } from './HubToken.js';

const FIT = { fits: 'Enough memory here', tight: 'Memory is tight here', 'too-big': 'Not enough memory here' } as const;

type Download = { pullId?: string; event?: HubPullEvent };

export function ModelCatalog({ onDownloaded }: { onDownloaded: (dir: string) => void }) {
  const [models, setModels] = useState<SourceModel[]>();
  const [error, setError] = useState<string>();
  const [downloads, setDownloads] = useState<Record<string, Download>>({});

  const load = () =>
    attune.hub
      .list({})
      .then(setModels)
      .catch((e) => setError(errorText(e)));

  useEffect(() => {
    void load();
    return attune.hub.onProgress((e) => {
      setDownloads((d) => ({ ...d, [e.repo]: { pullId: e.state === 'progress' ? e.pullId : undefined, event: e } }));
      if (e.state === 'done') {
        void load();
        onDownloaded(e.dir);
      }
    });
  }, []);

  const start = async (repo: string) => {
    setError(undefined);
    try {
      const { pullId } = await attune.hub.pull({ repo });
      setDownloads((d) => ({ ...d, [repo]: { pullId, event: d[repo]?.event } }));
    } catch (e) {
      setError(errorText(e));
    }
  };
  const cancel = async (repo: string) => {
    const id = downloads[repo]?.pullId;
    if (id) await attune.hub.cancel({ pullId: id }).catch((e) => setError(errorText(e)));
  };

  const toGet = models?.filter((m) => m.source === 'catalog' && !m.downloaded) ?? [];
  const active = Object.entries(downloads).filter(([, d]) => d.pullId);

  return (
    <section aria-labelledby="catalog-heading" data-testid="model-catalog">
      <h3 id="catalog-heading">Recommended to download</h3>
      <HubEndpoint />
      <HubToken />
      {active.length > 0 && (
        <p role="status" className="note" data-testid="downloading-banner">
          Downloading from the internet: {active.map(([repo]) => repo).join(', ')}. Nothing else in Attune uses the network.
        </p>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {!models ? (
        <p aria-live="polite">Looking for recommended models…</p>
      ) : toGet.length === 0 ? (
        <p>Every recommended model is already on this computer.</p>
      ) : (
        <ul className="catalog">
          {toGet.map((m) => {
            const d = downloads[m.name];
            const e = d?.event;
            const running = !!d?.pullId;
            const p = e?.state === 'progress' ? e.progress : undefined;
            return (
              <li key={m.name} className="card" data-testid={`catalog-${m.name}`}>
                <strong>{m.name}</strong> {m.gated && <span className="badge tight">Gated: accept the licence on its page first</span>}
                <p>{m.description}</p>
                <dl className="facts">
                  <dt>Size</dt>
                  <dd>
                    {formatCount(m.parameters)} parameters, {formatBytes(m.bytes)} to download
                  </dd>
                  <dt>Licence</dt>
                  <dd>{m.licence}</dd>
                  <dt>Memory to tune</dt>
                  <dd>
                    {m.memory && <span className={`badge ${m.memory.fitWithBest}`}>{FIT[m.memory.fitWithBest]}</span>}
                    {m.memory && m.memory.fit !== m.memory.fitWithBest && ` when its frozen weights are stored compactly (${m.memory.bestStorage}, set in the Tune step's advanced settings)`}
                  </dd>
                </dl>
                {running || p ? (
                  <div className="download" aria-live="polite">
                    <progress aria-label={`Download of ${m.name}`} max={p?.totalBytes || 1} value={p?.doneBytes ?? 0} />
                    <span data-testid="download-status">
                      {p
                        ? p.phase === 'listing'
                          ? 'Asking the Hub for the file list…'
                          : `${formatBytes(p.doneBytes)} of ${formatBytes(p.totalBytes)}` +
                            (p.bytesPerSecond ? ` · ${formatBytes(p.bytesPerSecond)}/s` : '') +
                            (p.secondsLeft !== undefined ? ` · ${formatDuration(p.secondsLeft)} left` : '') +
                            (p.phase === 'verifying' ? ' · checking the file' : '')
                        : 'Starting…'}
                    </span>
                  </div>
                ) : null}
                {e && (e.state === 'cancelled' || e.state === 'error') && (
                  <p role={e.state === 'error' ? 'alert' : 'status'} className={e.state === 'error' ? 'error' : 'note'}>
                    {e.message}
                  </p>
                )}
                <div className="row">
                  {running ? (
                    <button type="button" onClick={() => void cancel(m.name)}>
                      Cancel download
                    </button>
                  ) : (
                    <button type="button" onClick={() => void start(m.name)} disabled={!m.canTune}>
                      {e && (e.state === 'cancelled' || e.state === 'error') ? 'Resume download' : 'Download'}
                    </button>
                  )}
                  {!m.canTune && <span className="muted">{m.reason}</span>}
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
