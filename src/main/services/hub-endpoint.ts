/**
 * The "Download from" setting of the Model step: a company mirror or proxy of the Hugging Face Hub.
 * Empty means HF_ENDPOINT from the environment, else the Hub itself.
 */
import { AttuneError } from '../../shared/errors.js';

/** The address as kept in the settings ('' clears it); refuses anything but an http(s) address. */
export function normalizeHubEndpoint(raw: string): string {
  const value = raw.trim();
  if (!value) return '';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AttuneError('hub.bad-endpoint', { value });
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) throw new AttuneError('hub.bad-endpoint', { value });
  return value.replace(/\/+$/, '');
}

/** The endpoint a pull uses: the setting, else undefined (the engine then reads HF_ENDPOINT, else the Hub). */
export function hubEndpointFor(settings: { hubEndpoint?: string }): string | undefined {
  return settings.hubEndpoint?.trim() || undefined;
}
