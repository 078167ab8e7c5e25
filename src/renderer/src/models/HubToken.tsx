/** The Hugging Face token for gated models: given once, kept encrypted by main, never shown again. */
import { useEffect, useState } from 'react';
import { attune, errorText } from '../api.js';

export function HubToken() {
  const [status, setStatus] = useState<{ hasToken: boolean; fromEnvironment: boolean }>();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  useEffect(() => {
    attune.hub
      .tokenStatus({})
      .then(setStatus)
      .catch(() => undefined);
  }, []);
  const save = async () => {
    setError(undefined);
    try {
      setStatus(await attune.hub.setToken({ token }));
      setToken('');
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <details className="hub-token">
      <summary>Hugging Face token (for gated models such as Llama 3.2)</summary>
      <p className="muted">
        {status?.hasToken
          ? 'A token is kept, encrypted by this computer.'
          : status?.fromEnvironment
            ? 'The token in HF_TOKEN is used.'
            : 'No token yet. Accept the model’s licence on its Hugging Face page, then paste a token from your Hugging Face settings (Access Tokens).'}
      </p>
      <div className="row">
        <input type="password" aria-label="Hugging Face token" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} placeholder="hf_…" />
        <button type="button" onClick={() => void save()} disabled={!token}>
          Keep token
        </button>
        {status?.hasToken && (
          <button type="button" onClick={() => void attune.hub.clearToken({}).then(setStatus)}>
            Forget token
          </button>
        )}
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </details>
  );
}
