/** "Download from": a company mirror or proxy of the Hugging Face Hub; empty uses HF_ENDPOINT, else the Hub. */
import { useEffect, useState } from 'react';
import { attune, errorText } from '../api.js';

export function HubEndpoint() {
  const [saved, setSaved] = useState('');
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  useEffect(() => {
    attune.settings
      .get({})
      .then((s) => {
        setSaved(s.hubEndpoint ?? '');
        setValue(s.hubEndpoint ?? '');
      })
      .catch(() => undefined);
  }, []);
  const save = async () => {
    setError(undefined);
    setNote(undefined);
    try {
      const s = await attune.settings.update({ hubEndpoint: value });
      setSaved(s.hubEndpoint ?? '');
      setValue(s.hubEndpoint ?? '');
      setNote(s.hubEndpoint ? `Models will be downloaded from ${s.hubEndpoint}.` : 'Models will be downloaded from the Hugging Face Hub.');
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <div className="hub-endpoint">
      <div className="row">
        <label htmlFor="hub-endpoint">Download from:</label>
        <input
          id="hub-endpoint"
          type="url"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          onKeyDown={(e) => e.key === 'Enter' && void save()}
          placeholder="https://huggingface.co"
        />
        <button type="button" onClick={() => void save()} disabled={value.trim() === saved}>
          Use this address
        </button>
      </div>
      <p className="muted">A company mirror or proxy can go here. Leave it empty to use the Hugging Face Hub.</p>
      {note && <p className="muted">{note}</p>}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  );
}
