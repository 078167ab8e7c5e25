import { describe, expect, it } from 'vitest';
import { memorySettings } from '../../src/main/settings.js';
import { removeAddedModel } from '../../src/main/services/added-models.js';

describe('removing an added model', () => {
  it('takes only that model off the list and says whether it was there', () => {
    const store = memorySettings({ workspace: '/tmp/ws', addedModels: [{ path: '/a/faq.pdf', kind: 'gguf' }, { path: '/b/model', kind: 'folder' }] });
    expect(removeAddedModel(store, '/a/faq.pdf')).toBe(true);
    expect(store.get().addedModels).toEqual([{ path: '/b/model', kind: 'folder' }]);
    expect(removeAddedModel(store, '/a/faq.pdf')).toBe(false);
    expect(removeAddedModel(store, '/tmp/ws/models/tiny')).toBe(false);
    expect(store.get().addedModels).toEqual([{ path: '/b/model', kind: 'folder' }]);
  });
});
