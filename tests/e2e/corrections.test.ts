/**
 * End to end in Chromium (the built renderer, the real handlers and engine on stories260K):
 * learning from corrections. Tune on the bundled sample (one short pass), then in the Chat step
 * give the tuned answer a thumbs down, correct it and save it; go through the held-out review with
 * the keyboard (next/previous, thumbs up, thumbs down + correct + Enter, Escape); "Teach it
 * again" runs with progress like a tune, and the before/after shows every correction and the
 * held-out examples side by side under "The model now gets N of M corrections right".
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL } from '../app/harness.js';
import { CHROMIUM, openSession, type Session } from './session.js';

describe.skipIf(!existsSync(CHROMIUM))('learning from corrections, end to end', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openSession('corrections');
  }, 180_000);
  afterAll(async () => {
    await s?.close();
  });

  it('thumbs down, correct, review with the keyboard, teach it again, before/after', async () => {
    const { page, app } = s;
    await page.goto(s.server.url);
    await page.getByLabel('Project name').fill('Shop');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'Step 1 of 5: Data' }).waitFor();
    await page.getByRole('button', { name: /Use the sample/ }).click();
    await page.getByTestId('report-summary').waitFor();
    await page.getByRole('button', { name: /^Import \d+ examples$/ }).click();
    await page.getByText(/^Imported: \d+ examples to learn from/).waitFor();
    await page.getByRole('button', { name: 'Next: choose a model' }).click();
    app.dialogAnswers.push(TINY_MODEL);
    await page.getByRole('button', { name: 'Add a model folder…' }).click();
    await page.getByText('Fits this computer').waitFor();
    await page.getByRole('button', { name: 'Next: tune' }).click();

    // Tune: one short pass (big batches keep the steps few), no early stopping.
    await page.getByRole('heading', { name: 'Step 3 of 5: Tune' }).waitFor();
    await page.getByText('Advanced settings').click();
    // The method choice in plain words, with the preference fields only where they apply.
    const method = page.getByLabel('What it learns from');
    expect(await method.locator('option').allTextContents()).toEqual([
      'Your answers (instruction tuning)',
      expect.stringMatching(/^Learn from corrections \(preference tuning, DPO\)/),
      expect.stringMatching(/^Learn from corrections \(preference tuning, ORPO\)/),
    ]);
    expect(await page.getByLabel('Strength of the preference (beta)').count()).toBe(0);
    await method.selectOption('dpo');
    await page.getByLabel('Strength of the preference (beta)').waitFor();
    await page.getByLabel('Also learn the better answers (weight)').fill('1');
    expect(await page.getByLabel('Learning rate').inputValue()).toBe('0.0002');
    await method.selectOption('sft');
    expect(await page.getByLabel('Strength of the preference (beta)').count()).toBe(0);
    await page.getByLabel('Batch size').fill('32');
    await page.getByLabel('Epochs').fill('1');
    await page.getByLabel(/Stop when the answers to held-out examples/).uncheck();
    await page.getByRole('button', { name: 'Start tuning' }).click();
    const anyway = page.getByRole('button', { name: /^Start anyway/ });
    const raise = page.getByRole('button', { name: /^Raise the max length/ });
    await expect.poll(async () => (await anyway.isVisible()) || (await page.getByTestId('run-state').isVisible()), { timeout: 30_000 }).toBe(true);
    if (await raise.isVisible()) await raise.click();
    else if (await anyway.isVisible()) await anyway.click();
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 400_000 }).toBe('Finished');
    // An instruction run charts no rewards.
    expect(await page.getByTestId('reward-chart').count()).toBe(0);
    await page.getByRole('button', { name: 'Next: try it in a chat' }).click();

    // Chat: ask, thumbs down on the tuned answer, correct it, save.
    await page.getByRole('heading', { name: 'Step 4 of 5: Chat' }).waitFor();
    await expect.poll(() => page.getByTestId('corrections-count').textContent()).toMatch(/^No corrections in this project yet/);
    await page.getByText('Answer settings').click();
    await page.getByLabel('Creativity (temperature)').fill('0');
    await page.getByLabel('Longest answer (tokens)').fill('30');
    const question = 'Can I return my shoes?';
    await page.getByLabel('Your question').fill(question);
    const ask = page.getByRole('button', { name: 'Ask both' });
    await expect.poll(() => ask.isEnabled(), { timeout: 30_000 }).toBe(true);
    await ask.click();
    const down = page.getByRole('button', { name: "Thumbs down: correct the tuned model's answer" });
    await down.waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: "Thumbs up: the original model's answer is good" }).waitFor({ timeout: 60_000 });
    const rejected = ((await page.getByTestId('answer-tuned').textContent()) ?? '').trim();
    await down.click();
    const editor = page.getByLabel('The answer the tuned model should have given');
    await editor.waitFor();
    expect(await s.focused()).toBe('chat-tuned-correct');
    expect(await editor.inputValue()).toBe(rejected);
    const correction = 'Yes, you can return shoes within 30 days.';
    await editor.fill(correction);
    await s.shot('1-correcting');
    await page.getByRole('button', { name: 'Save the correction' }).click();
    await page.getByTestId('chat-tuned-saved').waitFor();
    expect(await s.focused()).toBe('p:' + (await page.getByTestId('chat-tuned-saved').textContent())!.slice(0, 60));
    await expect.poll(() => page.getByTestId('corrections-count').textContent()).toBe('This project has 1 correction (answers rated: 0 up, 1 down).');
    await page.getByRole('button', { name: "Thumbs up: the original model's answer is good" }).click();
    await expect.poll(() => page.getByTestId('corrections-count').textContent()).toBe('This project has 1 correction (answers rated: 1 up, 1 down).');
    // Saved in the project as an instruction example and a preference pair, with where it came from.
    const dir = path.join(app.workspace, 'projects', 'Shop', 'data', 'corrections');
    const pair = JSON.parse(readFileSync(path.join(dir, 'pairs.jsonl'), 'utf8').trim());
    expect(pair).toMatchObject({ prompt: [{ role: 'user', content: question }], chosen: [{ content: correction }], rejected: [{ content: rejected }], provenance: { which: 'tuned', runId: expect.any(String), adapter: expect.any(String) } });
    const example = JSON.parse(readFileSync(path.join(dir, 'examples.jsonl'), 'utf8').trim());
    expect(example.messages).toEqual([{ role: 'user', content: question }, { role: 'assistant', content: correction }]);

    // The held-out review, by keyboard: the keys are on screen; J/K move, U up, D correct (Enter saves, Escape cancels).
    await page.getByRole('button', { name: 'Run the review' }).click();
    await page.getByTestId('review-report').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('review-keys').textContent()).toMatch(/J or ↓ next question, K or ↑ previous, U thumbs up for the tuned answer, D thumbs down to correct it; in the correction Enter saves and Esc cancels/);
    const q = (n: number) => page.getByRole('article', { name: new RegExp(`^Held-out question ${n} of \\d+$`) });
    await expect.poll(() => q(1).evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await page.keyboard.press('j');
    await expect.poll(() => q(2).evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await page.keyboard.press('u');
    await q(2).getByTestId('review-1-saved').waitFor();
    // Focus moves to what the key did (the note), still inside the review: the keys go on working.
    await expect.poll(() => s.focused()).toMatch(/^p:Marked as a good answer/);
    await expect.poll(() => page.getByTestId('corrections-count').textContent()).toMatch(/2 up, 1 down/);
    await page.keyboard.press('j');
    await page.keyboard.press('d');
    const reviewEditor = q(3).getByLabel('The answer the tuned model should have given');
    await reviewEditor.waitFor();
    expect(await s.focused()).toBe('review-2-correct');
    await page.keyboard.press('Escape');
    await expect.poll(() => reviewEditor.count()).toBe(0);
    // Escape gives focus back to the thumbs-down button, ready to try again.
    await expect.poll(() => s.focused()).toBe('review-2-down');
    await page.keyboard.press('d');
    await reviewEditor.waitFor();
    await reviewEditor.fill('We answer every message within a day.');
    await page.keyboard.press('Enter');
    await q(3).getByTestId('review-2-saved').waitFor();
    await expect.poll(() => s.focused()).toMatch(/^p:Correction saved/);
    await expect.poll(() => page.getByTestId('corrections-count').textContent()).toMatch(/^This project has 2 corrections/);
    await page.keyboard.press('k');
    await expect.poll(() => q(2).evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await s.shot('2-review-keys');

    // Teach it again: a run with progress, then before/after.
    const teach = page.getByRole('button', { name: 'Teach it again' });
    expect(await teach.isEnabled()).toBe(true);
    await teach.click();
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 30_000 }).toMatch(/Training|Finished/);
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 400_000 }).toBe('Finished');
    const headline = page.getByTestId('teach-headline');
    await headline.waitFor({ timeout: 400_000 });
    const text = (await headline.textContent()) ?? '';
    console.log('teach again (e2e):', text);
    const [, right, total] = text.match(/^The model now gets (\d+) of (\d+) corrections right$/)!;
    expect(Number(total)).toBe(2);
    expect(await page.getByTestId('correction-row').count()).toBe(2);
    expect(await page.getByTestId('correction-row').filter({ hasText: '✓ right' }).count()).toBe(Number(right));
    const first = page.getByTestId('correction-row').filter({ hasText: question });
    for (const t of [rejected, correction]) expect(await first.textContent()).toContain(t);
    expect(await page.getByTestId('held-out-row').count()).toBeGreaterThan(0);
    await expect.poll(() => s.focused()).toBe('before-after-h');
    const continued = app.events.filter((e) => e.name === 'tune.state').map((e) => e.payload as { continues?: string; state: string });
    expect(continued.some((r) => r.continues && r.state === 'done')).toBe(true);
    expect(app.events.some((e) => e.name === 'corrections.progress')).toBe(true);
    await s.shot('3-before-after');
    // Chat with the new version: the chat switches to it.
    await page.getByRole('button', { name: 'Chat with the new version' }).click();
    await expect.poll(() => page.getByRole('button', { name: 'Chat with the new version' }).count()).toBe(0);
    expect(s.pageErrors).toEqual([]);
  }, 1_500_000);
});
