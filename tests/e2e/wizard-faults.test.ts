/**
 * End to end, the faults of issue #19 walked as a person who does not program would: each walk
 * goes the same path as the report and checks what the page shows, where focus goes, and what
 * main was asked. One browser for all, with the real engine and the tiny model.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, TINY_MODEL } from '../app/harness.js';
import { CHROMIUM, openSession, type Session } from './session.js';

/** Twelve short rows (one broken): a run on them takes seconds even on a busy machine. */
const FIXTURE = path.join(ROOT, 'tests', 'app', 'fixtures', 'support.jsonl');

describe.skipIf(!existsSync(CHROMIUM) || !existsSync(FIXTURE))('the wizard as a person uses it (issue #19)', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openSession('faults');
  }, 180_000);
  afterAll(async () => {
    await s?.close();
  });

  it('checks fields as they are typed, in words, and moves focus to what each action produced; a run without held-out examples says what it cannot do', async () => {
    const { page, app, server } = s;
    await page.goto(server.url);
    await page.getByRole('heading', { name: /Teach a small language model/ }).waitFor();

    // Fault 2: the project name is checked as it is typed, in the words main uses; apostrophes are fine.
    const name = page.getByLabel('Project name');
    await name.fill('../secret');
    expect(await page.getByTestId('project-name-problem').textContent()).toBe(
      'Use letters, digits, spaces, apostrophes, dots, dashes or underscores, starting with a letter or digit.',
    );
    expect(await page.getByRole('button', { name: 'Create project' }).isDisabled()).toBe(true);
    const refused = await page.evaluate<{ message: string }>("window.attune.projects.create({ name: '../secret' }).then(() => ({ message: 'accepted' }), (e) => ({ message: e.message }))");
    expect(refused.message).toBe('Project name: use letters, digits, spaces, apostrophes, dots, dashes or underscores, starting with a letter or digit.');
    await name.fill("Bob's shop");
    expect(await page.getByTestId('project-name-problem').count()).toBe(0);
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'Step 1 of 5: Data' }).waitFor();
    // Fault 8: after Create project, focus is on the step it opened.
    await expect.poll(() => s.focused()).toBe('step-heading');

    // Fault 8: the file's report, then the import's result, take focus.
    app.dialogAnswers.push(FIXTURE);
    await page.getByRole('button', { name: 'Choose a file…' }).click();
    await page.getByTestId('report-summary').waitFor();
    await expect.poll(() => s.focused()).toBe('report-h');
    // Fault 12: keep nothing aside.
    await page.getByLabel(/Held-out share/).fill('0');
    await page.getByRole('button', { name: /^Import \d+ examples$/ }).click();
    await page.getByText(/^Imported: \d+ examples to learn from and 0 examples held out/).waitFor();
    await expect.poll(() => s.focused()).toBe('imported-status');
    await page.getByRole('button', { name: 'Next: choose a model' }).click();

    // Fault 10: the device line speaks in words, not commands.
    app.dialogAnswers.push(TINY_MODEL);
    await page.getByRole('button', { name: 'Add a model folder…' }).click();
    await page.getByText('stories260K-hf', { exact: true }).waitFor();
    const deviceLine = (await page.getByTestId('device-line').textContent({ timeout: 30_000 })) ?? '';
    expect(deviceLine).toMatch(/^Work will run on: /);
    expect(deviceLine).not.toMatch(/npm|setup:|"/);
    await page.getByRole('button', { name: 'Next: tune' }).click();
    await page.getByRole('heading', { name: 'Step 3 of 5: Tune' }).waitFor();

    // Faults 2 and 15: number fields keep what is typed, say what they accept as it is typed, and Start waits.
    await page.getByText('Advanced settings').click();
    const batch = page.getByLabel('Batch size');
    await batch.fill('');
    expect(await batch.inputValue()).toBe('');
    expect(await page.getByTestId('adv-batchSize-problem').textContent()).toBe('Use a whole number from 1 to 512.');
    expect(await page.getByRole('button', { name: 'Start tuning' }).isDisabled()).toBe(true);
    await batch.pressSequentially('4');
    expect(await batch.inputValue()).toBe('4');
    expect(await page.getByTestId('adv-batchSize-problem').count()).toBe(0);
    const lr = page.getByLabel('Learning rate');
    await lr.fill('');
    await lr.pressSequentially('5');
    expect(await page.getByTestId('adv-learningRate-problem').textContent()).toBe('Use a number above 0 and at most 1.');
    await lr.fill('');
    await lr.pressSequentially('0.0005');
    expect(await lr.inputValue()).toBe('0.0005');
    await page.getByLabel('Seed').fill('1.5');
    expect(await page.getByTestId('adv-seed-problem').textContent()).toBe('Use a whole number from 0 to 2,147,483,647.');
    await page.getByLabel('Epochs').fill('0');
    expect(await page.getByTestId('adv-epochs-problem').textContent()).toBe('Use a whole number from 1 to 1000.');
    await s.shot('tune-field-problems');
    await page.getByLabel('Seed').fill('42');
    await page.getByLabel('Epochs').fill('1');
    expect(await page.getByRole('button', { name: 'Start tuning' }).isEnabled()).toBe(true);
    // Main refuses in the same words.
    const mainSays = await page.evaluate<string>(
      "window.attune.tune.start({ project: \"Bob's shop\", modelPath: 'x', preset: 'quick', advanced: { batchSize: 0 } }).then(() => 'accepted', (e) => e.message)",
    );
    expect(mainSays).toBe('Batch size: use a whole number from 1 to 512.');

    // Fault 12: no held-out examples: early stopping is off and says why, before Start.
    const early = page.getByLabel(/Stop when the answers to held-out examples stop improving/);
    expect(await early.isChecked()).toBe(false);
    expect(await early.isDisabled()).toBe(true);
    expect(await page.getByTestId('early-stopping-help').textContent()).toMatch(/^You kept no held-out examples in the Data step/);

    // Fault 8: the length question takes focus; Start puts focus on the run.
    // A max length shorter than the examples, so that the length question comes up.
    await page.getByLabel('Max length (tokens)').fill('16');
    await page.getByRole('button', { name: 'Start tuning' }).click();
    await page.getByTestId('length-warning').waitFor();
    // (Raising the max length when the model can read more; here it cannot, so starting anyway.)
    await expect.poll(() => s.focused()).toMatch(/^button:(Raise the max length to \d+ and start|Start anyway, leaving them out)$/);
    await page.keyboard.press('Enter');
    await expect.poll(() => s.focused(), { timeout: 30_000 }).toBe('run-h');
    // Fault 14 (names) and 11 (numbers): the run is named in words; its numbers are rounded.
    expect(await page.locator('#run-h').textContent()).toMatch(/^Quick run of .+: /);
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 240_000 }).toBe('Finished');
    const numbers = (await page.getByTestId('run-numbers').textContent()) ?? '';
    expect(numbers).toMatch(/^Loss \d+(\.\d{1,3})? · [\d,]+ tokens per second · pass 1 over your examples/);
    expect(numbers).not.toMatch(/\d\.\d{4,}/);
    const outcome = (await page.getByTestId('run-outcome').textContent()) ?? '';
    expect(outcome).toMatch(/^Finished all \d+ steps \(early stopping was off\)\./);
    const started = app.events.filter((e) => e.name === 'tune.state').map((e) => e.payload as { validation?: { patience: number | null } });
    expect(started.at(-1)?.validation?.patience ?? null).toBeNull();
    await s.shot('tune-done');
    await page.getByRole('button', { name: 'Next: try it in a chat' }).click();

    // Fault 12: the review says what it cannot show instead of failing.
    await page.getByRole('heading', { name: 'Step 4 of 5: Chat' }).waitFor();
    expect(await page.getByTestId('review-unavailable').textContent()).toMatch(/^You kept no held-out examples/);
    expect(await page.getByRole('button', { name: 'Run the review' }).count()).toBe(0);
    // Fault 14: Chat says which run answers.
    expect(await page.getByTestId('chat-run').textContent()).toMatch(/^The tuned model is from the Quick run of .+ \(finished\)\.$/);
    // Fault 2 in Chat: answer settings are checked as typed.
    await page.getByText('Answer settings').click();
    await page.getByLabel('Longest answer (tokens)').fill('0');
    expect(await page.getByTestId('s-max-problem').textContent()).toBe('Use a whole number from 1 to 4096.');
    await page.getByLabel('Top P').fill('2');
    expect(await page.getByTestId('s-topp-problem').textContent()).toBe('Use a number above 0 and at most 1.');
    await page.getByLabel('Top P').fill('0.9');
    await page.getByLabel('Your question').fill('Where is my order?');
    expect(await page.getByRole('button', { name: 'Ask both' }).isDisabled()).toBe(true);
    await s.shot('chat-field-problems');

    // Fault 7: Stop ends both answers: the original model does not start after the tuned one was stopped.
    await page.getByLabel('Longest answer (tokens)').fill('4096');
    await page.getByLabel('Creativity (temperature)').fill('1');
    const ask = page.getByRole('button', { name: 'Ask both' });
    await expect.poll(() => ask.isEnabled(), { timeout: 60_000 }).toBe(true);
    const generatesBefore = server.calls.filter((c) => c === 'chat.generate').length;
    await ask.click();
    // Fault 8: the answers take focus while the pressed button waits.
    await expect.poll(() => s.focused()).toBe('answers');
    await expect.poll(async () => ((await page.getByTestId('answer-tuned').textContent()) ?? '').replace('Writing…', '').length, { timeout: 30_000 }).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => ask.isEnabled(), { timeout: 30_000 }).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(server.calls.filter((c) => c === 'chat.generate').length - generatesBefore).toBe(1);
    expect(await page.getByTestId('answer-base').textContent()).toBe('');
    await page.getByRole('button', { name: 'Next: export' }).click();

    // Export: which run it saves (14); Save focuses the result and the Replace question takes and keeps focus (8).
    await page.getByRole('heading', { name: 'Step 5 of 5: Export' }).waitFor();
    expect(await page.getByTestId('export-run').textContent()).toMatch(/^This saves the tuned model from the Quick run of .+ \(finished\)\.$/);
    const save = page.getByRole('button', { name: 'Save the tuned model' });
    await save.click();
    await page.getByRole('heading', { name: 'Saved' }).waitFor({ timeout: 60_000 });
    await expect.poll(() => s.focused()).toBe('export-done');
    await save.click();
    const confirm = page.getByRole('alertdialog', { name: 'Replace the earlier copy?' });
    await confirm.waitFor();
    await expect.poll(() => s.focused()).toBe('button:Replace it');
    await page.keyboard.press('Tab');
    expect(await s.focused()).toBe('button:Keep the earlier copy');
    await page.keyboard.press('Tab');
    expect(await s.focused()).toBe('button:Replace it');
    await s.shot('export-confirm');
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'detached' });
    await expect.poll(() => s.focused()).toBe('button:Save the tuned model');
    expect(s.pageErrors).toEqual([]);
    // Back to the project list (a reload would otherwise come back to this project).
    await page.getByRole('button', { name: 'Switch project' }).click();
    await page.getByRole('heading', { name: /Teach a small language model/ }).waitFor();
  }, 420_000);

  it('checks edited examples, undoes a removal, keeps the counts of other steps current, and removes a model that cannot be read', async () => {
    const { page, app, server } = s;
    await page.goto(server.url);
    await page.getByLabel('Project name').fill('Walk two');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'Step 1 of 5: Data' }).waitFor();
    app.dialogAnswers.push(FIXTURE);
    await page.getByRole('button', { name: 'Choose a file…' }).click();
    await page.getByRole('button', { name: /^Import \d+ examples$/ }).click();
    const imported = (await page.getByText(/^Imported: \d+ examples to learn from/).textContent()) ?? '';
    const train = Number(/Imported: (\d+)/.exec(imported)![1]);

    // Fault 5: an emptied answer is pointed out as it is typed and cannot be saved; main refuses it too.
    await page.getByRole('button', { name: 'Edit example 1' }).click();
    const answer = page.getByLabel('Answer');
    const before = await answer.inputValue();
    await answer.fill('   ');
    expect(await page.getByTestId('msg-1-problem').textContent()).toMatch(/^Write the answer: an example with an empty answer cannot teach anything/);
    expect(await page.getByRole('button', { name: 'Save', exact: true }).isDisabled()).toBe(true);
    const mainSays = await page.evaluate<string>(
      "window.attune.data.saveExample({ project: 'Walk two', split: 'train', index: 0, example: { messages: [{ role: 'user', content: 'Hi?' }, { role: 'assistant', content: ' ' }] } }).then(() => 'accepted', (e) => e.message)",
    );
    expect(mainSays).toBe('Example 1: the answer is empty; write some text, or remove the example instead.');
    await answer.fill(`${before} Thanks!`);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => s.focused()).toBe('edit-example-1');

    // Fault 5: removing can be undone; focus goes to the Undo offer, then back to the example.
    const second = await page.locator('ol.examples > li').nth(1).textContent();
    await page.getByRole('button', { name: 'Remove example 2' }).click();
    await expect.poll(() => s.focused()).toBe('undo-remove');
    expect(await page.getByTestId('removed-status').textContent()).toMatch(/^Example 2 was removed\./);
    await s.shot('data-removed-undo');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('ol.examples > li').nth(1).textContent()).toBe(second);
    await expect.poll(() => s.focused()).toBe('edit-example-2');
    expect(await page.getByText(/^Showing 1–5 of \d+\./).textContent()).toBe(`Showing 1–5 of ${train}.`);

    // Fault 16: after a removal the Tune step counts what is left.
    await page.getByRole('button', { name: 'Remove example 2' }).click();
    await page.getByTestId('removed-status').waitFor();
    await page.locator('#step-tab-tune').click();
    await page.getByRole('heading', { name: 'Step 3 of 5: Tune' }).waitFor();
    await page.getByText('Advanced settings').click();
    await expect.poll(() => page.getByTestId('early-stopping-help').textContent()).toContain(`With ${train - 1} examples to learn from`);

    // Fault 9: a file that is not a model can be taken off the list again.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'attune-notmodel-'));
    const pdf = path.join(dir, 'faq.pdf');
    await writeFile(pdf, '%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n');
    await page.locator('#step-tab-model').click();
    await page.getByRole('heading', { name: 'Step 2 of 5: Model' }).waitFor();
    app.dialogAnswers.push(pdf);
    await page.getByRole('button', { name: 'Add a GGUF file…' }).click();
    const remove = page.getByRole('button', { name: /^Remove faq(\.pdf)? from this list$/ });
    await remove.waitFor({ timeout: 30_000 });
    await s.shot('model-bad-file');
    await remove.click();
    await remove.waitFor({ state: 'detached' });
    expect(await page.getByText(pdf, { exact: true }).count()).toBe(0);
    expect(app.handlers && (await app.handlers['models.list']({})).some((m) => m.path === pdf)).toBe(false);
    expect(s.pageErrors).toEqual([]);
    await page.getByRole('button', { name: 'Switch project' }).click();
    await page.getByRole('heading', { name: /Teach a small language model/ }).waitFor();
  }, 300_000);

  it('comes back to a running tune after a reload, and opening the project lands on it', async () => {
    const { page, app, server } = s;
    await page.goto(server.url);
    await page.getByLabel('Project name').fill('Walk three');
    await page.getByRole('button', { name: 'Create project' }).click();
    app.dialogAnswers.push(FIXTURE);
    await page.getByRole('button', { name: 'Choose a file…' }).click();
    await page.getByRole('button', { name: /^Import \d+ examples$/ }).click();
    await page.getByText(/^Imported: /).waitFor();
    await page.getByRole('button', { name: 'Next: choose a model' }).click();
    await page.getByRole('heading', { name: 'Step 2 of 5: Model' }).waitFor();
    if (!(await page.getByText('stories260K-hf', { exact: true }).count())) {
      app.dialogAnswers.push(TINY_MODEL);
      await page.getByRole('button', { name: 'Add a model folder…' }).click();
    }
    await page.getByLabel(/stories260K-hf/).check();
    await page.getByRole('button', { name: 'Next: tune' }).click();
    await page.getByText('Advanced settings').click();
    await page.getByLabel('Batch size').fill('1');
    await page.getByLabel('Epochs').fill('50');
    await page.getByRole('button', { name: 'Start tuning' }).click();
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 60_000 }).toBe('Training');

    // Fault 6: a reload comes back to the Tune step with the live run, not the project list.
    await page.reload();
    await page.getByRole('heading', { name: 'Step 3 of 5: Tune' }).waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 30_000 }).toBe('Training');
    await s.shot('reload-live-run');
    // Opening the project from the list also lands on the live run.
    await page.getByRole('button', { name: 'Switch project' }).click();
    await page.getByRole('button', { name: 'Open “Walk three”' }).click();
    await page.getByRole('heading', { name: 'Step 3 of 5: Tune' }).waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 30_000 }).toBe('Training');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 60_000 }).toBe('Cancelled');
    expect(s.pageErrors).toEqual([]);
  }, 300_000);
});
