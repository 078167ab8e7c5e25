/**
 * End to end, the rest of issue #19's faults in the Data step and around runs, walked as a person
 * who does not program: files that hold no examples (3), runs tied to their data (13), runs that
 * can be discarded and chosen in Chat and Export (14). One browser, the real engine, the tiny model.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, TINY_MODEL } from '../app/harness.js';
import { CHROMIUM, openSession, type Session } from './session.js';

const FIXTURE = path.join(ROOT, 'tests', 'app', 'fixtures', 'support.jsonl');

/** A minimal .docx: a zip with word/document.xml, written by Python's zipfile. */
function writeDocx(file: string): void {
  execFileSync('python3', ['-c', `import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\nz.writestr('[Content_Types].xml','<Types/>')\nz.writestr('word/document.xml','<w:document/>')\nz.close()`, file]);
}

describe.skipIf(!existsSync(CHROMIUM) || !existsSync(FIXTURE))('the Data step and runs as a person uses them (issue #19)', () => {
  let s: Session;
  let dir: string;
  beforeAll(async () => {
    s = await openSession('data');
    dir = await mkdtemp(path.join(os.tmpdir(), 'attune-e2e-data-'));
  }, 180_000);
  /** The project list (a reload after a walk that failed part-way would come back to its project). */
  const home = async () => {
    await s.page.goto(s.server.url);
    const heading = s.page.getByRole('heading', { name: /Teach a small language model/ });
    const switchButton = s.page.getByRole('button', { name: 'Switch project' });
    await expect.poll(async () => (await heading.count()) + (await switchButton.count())).toBeGreaterThan(0);
    if (await switchButton.count()) await switchButton.click();
    await heading.waitFor();
  };
  /** A new project with support.jsonl imported (held-out share as given) and the tiny model chosen. */
  const projectWithModel = async (name: string, heldOutPercent?: string) => {
    const { page, app } = s;
    await home();
    await page.getByLabel('Project name').fill(name);
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'Step 1 of 5: Data' }).waitFor();
    app.dialogAnswers.push(FIXTURE);
    await page.getByRole('button', { name: 'Choose a file…' }).click();
    if (heldOutPercent) await page.getByLabel(/Held-out share/).fill(heldOutPercent);
    await page.getByRole('button', { name: /^Import \d+ examples$/ }).click();
    await page.getByText(/^Imported: /).waitFor();
    await page.getByRole('button', { name: 'Next: choose a model' }).click();
    app.dialogAnswers.push(TINY_MODEL);
    await page.getByRole('button', { name: 'Add a model folder…' }).click();
    await page.getByLabel(/stories260K-hf/).check();
  };
  afterAll(async () => {
    await s?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('says what a file that holds no examples is, by its own name, and what to add instead', async () => {
    const { page, app } = s;
    writeDocx(path.join(dir, 'faq.docx'));
    writeDocx(path.join(dir, 'faq.csv'));
    await writeFile(path.join(dir, 'manual.pdf'), '%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n');
    await writeFile(path.join(dir, 'empty.csv'), '');
    await home();
    await page.getByLabel('Project name').fill('Files walk');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'Step 1 of 5: Data' }).waitFor();

    const cases: [string, RegExp][] = [
      ['faq.docx', /^“faq\.docx” looks like a Word document, which Attune cannot read examples from\. Attune reads a CSV file, an Excel workbook \(\.xlsx\), a JSON or JSONL file, or a plain text file with Q: and A: lines\./],
      ['faq.csv', /^“faq\.csv” looks like a Word document/],
      ['manual.pdf', /^“manual\.pdf” looks like a PDF document/],
      ['empty.csv', /^“empty\.csv” is empty, so there are no examples to import\.$/],
    ];
    for (const [name, words] of cases) {
      app.dialogAnswers.push(path.join(dir, name));
      await page.getByRole('button', { name: 'Choose a file…' }).click();
      await expect.poll(() => page.getByTestId('report-fatal').textContent()).toMatch(words);
      const text = (await page.locator('main, body').first().textContent()) ?? '';
      expect(text).not.toMatch(/--format|data\/working|Fix a row|about 0|0 tokens|\bsheet/);
      expect(await page.getByRole('button', { name: /^Import/ }).count()).toBe(0);
      await expect.poll(() => s.focused()).toBe('report-h');
    }
    await s.shot('file-word');
    // A file that is gone by the time Attune copies it.
    app.dialogAnswers.push(path.join(dir, 'gone.csv'));
    await page.getByRole('button', { name: 'Choose a file…' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toBe(
      'Attune could not open “gone.csv”: the file is no longer there. Check that the file is still there and that you may open it, then choose it again.',
    );
    expect(s.pageErrors).toEqual([]);
    await page.getByRole('button', { name: 'Switch project' }).click();
  }, 120_000);

  it('ties each run to its data, asks before replacing data a tune uses, discards a paused run, and lets Chat and Export choose the run', async () => {
    const { page, app } = s;
    await projectWithModel('Runs walk', '30');
    await page.getByRole('button', { name: 'Next: tune' }).click();
    await page.getByRole('heading', { name: 'Step 3 of 5: Tune' }).waitFor();
    await page.getByText('Advanced settings').click();

    // Two short runs on support.jsonl.
    const earlier = page.locator('section[aria-labelledby="runs-h"] li');
    const startAndFinish = async () => {
      const shown = await page.getByTestId('run-state').count();
      const before = await earlier.count();
      await page.getByRole('button', { name: 'Start tuning' }).click();
      // The new run is shown once the one shown before has moved to "Earlier runs" (until then
      // the panel still says the last run "Finished": on a busy machine the start takes a while).
      await expect.poll(() => (shown ? earlier.count() : page.getByTestId('run-state').count()), { timeout: 60_000 }).toBe(shown ? before + 1 : 1);
      await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 240_000 }).toBe('Finished');
    };
    await page.getByLabel('Epochs').fill('1');
    await startAndFinish();
    // The settings come back for another run once this one is finished.
    await page.getByRole('button', { name: 'Start tuning' }).waitFor();
    await startAndFinish();
    expect(await page.getByTestId('run-data').textContent()).toMatch(/^Tuned on \d+ examples \(\d+ held out\) from “support\.jsonl”, imported .+\. The run keeps its own copy of them\.$/);

    // A long run, then new data while it trains.
    // (The settings are drawn again once the run's last state arrives: each field is set once it is shown.)
    const setField = async (label: string, value: string) =>
      expect
        .poll(async () => {
          const field = page.getByLabel(label);
          if (!(await field.isVisible())) await page.getByText('Advanced settings').click();
          await field.fill(value, { timeout: 2000 }).catch(() => undefined);
          return field.inputValue();
        })
        .toBe(value);
    await setField('Batch size', '1');
    await setField('Epochs', '200');
    await page.getByRole('button', { name: 'Start tuning' }).click();
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 60_000 }).toBe('Training');
    // Fault 14: "Earlier runs" lists the two others, not the current one.
    await expect.poll(() => earlier.count()).toBe(2);
    for (const t of await earlier.allTextContents()) expect(t).toMatch(/\(finished/);

    const other = path.join(dir, 'other.jsonl');
    await writeFile(other, Array.from({ length: 10 }, (_, i) => JSON.stringify({ instruction: `New question ${i}?`, output: `New answer number ${i}.` })).join('\n') + '\n');
    await page.locator('#step-tab-data').click();
    app.dialogAnswers.push(other);
    await page.getByRole('button', { name: 'Choose a file…' }).click();
    await page.getByTestId('report-summary').waitFor();
    const importButton = page.getByRole('button', { name: /^Import \d+ examples$/ });
    const importsBefore = s.server.calls.filter((c) => c === 'data.import').length;
    await importButton.click();
    // Fault 13: a question before the data a running tune uses is replaced; it takes focus; Escape keeps the data.
    const ask = page.getByRole('alertdialog', { name: 'Replace the examples while a tune is running?' });
    await ask.waitFor();
    await expect.poll(() => s.focused()).toBe('button:Replace them');
    await s.shot('replace-while-tuning');
    await page.keyboard.press('Escape');
    await ask.waitFor({ state: 'detached' });
    expect(await page.getByText(/^Imported: /).count()).toBe(0);
    expect(s.server.calls.filter((c) => c === 'data.import').length).toBe(importsBefore);
    await importButton.click();
    await ask.waitFor();
    await page.getByRole('button', { name: 'Replace them' }).click();
    await page.getByText(/^Imported: /).waitFor();

    // The running tune goes on with its own data; pausing it, then discarding it, with a question first.
    await page.locator('#step-tab-tune').click();
    await expect.poll(() => page.getByTestId('run-state').textContent()).toBe('Training');
    expect(await page.getByTestId('run-data').textContent()).toMatch(/^Learning from \d+ examples .* from “support\.jsonl”/);
    await page.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 60_000 }).toBe('Paused');
    await page.getByRole('button', { name: 'Resume from the last saved point' }).waitFor();
    const runsBefore = (await app.handlers['tune.runs']({ project: 'Runs walk' })).length;
    await page.getByRole('button', { name: 'Discard this run' }).click();
    const discard = page.getByRole('alertdialog', { name: 'Discard this run?' });
    await discard.waitFor();
    expect(await discard.textContent()).toMatch(/it can no longer be resumed/);
    await page.getByRole('button', { name: 'Discard it' }).click();
    await discard.waitFor({ state: 'detached' });
    await expect.poll(async () => (await app.handlers['tune.runs']({ project: 'Runs walk' })).length).toBe(runsBefore - 1);
    // The newest remaining run is shown; it is finished.
    await expect.poll(() => page.getByTestId('run-state').textContent()).toBe('Finished');
    expect(await page.getByText('Paused', { exact: true }).count()).toBe(0);

    // Chat: says which run answers, lets the person choose, and offers that run's own held-out examples.
    await page.getByRole('button', { name: 'Next: try it in a chat' }).click();
    await page.getByRole('heading', { name: 'Step 4 of 5: Chat' }).waitFor();
    expect(await page.getByTestId('chat-run').textContent()).toMatch(/^The tuned model is from the Quick run of .+ \(finished.*\)\.$/);
    expect(await page.getByLabel(/Tuned model from run/).locator('option').count()).toBe(2);
    const heldOut = page.locator('details summary', { hasText: 'Try one of your held-out examples' });
    await heldOut.waitFor({ timeout: 30_000 });
    expect(await heldOut.textContent()).toContain('(from “support.jsonl”, which this run was tuned on)');
    await heldOut.click();
    const questions = await page.locator('details ul button').allTextContents();
    expect(questions.length).toBeGreaterThan(0);
    for (const q of questions) expect(q).not.toMatch(/^New question/);

    // Export: says which run it saves and lets the person choose another.
    await page.getByRole('button', { name: 'Next: export' }).click();
    await page.getByRole('heading', { name: 'Step 5 of 5: Export' }).waitFor();
    const choice = page.getByLabel('Which run to save');
    await choice.waitFor();
    const options = await choice.locator('option').all();
    expect(options).toHaveLength(2);
    const second = (await options[1]!.getAttribute('value'))!;
    await choice.selectOption(second);
    const label = (await options[1]!.textContent())!;
    await expect.poll(() => page.getByTestId('export-run').textContent()).toBe(`This saves the tuned model from the ${label}.`);
    await s.shot('export-choose-run');
    expect(s.pageErrors).toEqual([]);
    await page.getByRole('button', { name: 'Switch project' }).click();
  }, 600_000);
  it('counts tokens with the chosen model in both steps, links each long example to its place in the list, and finds examples by search', async () => {
    const { page, app } = s;
    // Row 1 is left out (no question), so example numbers and file rows differ; row 12 is far too long.
    const rows = [
      JSON.stringify({ instruction: '', output: 'An answer without a question.' }),
      ...Array.from({ length: 10 }, (_, i) => JSON.stringify({ instruction: `Question ${i + 2}: can I get a ${i % 3 === 0 ? 'refund' : 'new card'}?`, output: `Yes, answer ${i + 2}.` })),
      JSON.stringify({ instruction: 'Tell me the whole policy.', output: 'The policy says this. '.repeat(150) }),
      JSON.stringify({ instruction: 'How do I reset my password please?', output: 'Open Settings and choose Reset.' }),
      // Row 14: almost the same as row 13, kept with a warning that names it.
      JSON.stringify({ instruction: 'How do I reset my password, please?', output: 'Open Settings and choose Reset.' }),
    ];
    const file = path.join(dir, 'lengths.jsonl');
    await writeFile(file, rows.join('\n') + '\n');
    await home();
    await page.getByLabel('Project name').fill('Lengths walk');
    await page.getByRole('button', { name: 'Create project' }).click();
    app.dialogAnswers.push(file);
    await page.getByRole('button', { name: 'Choose a file…' }).click();
    await page.getByTestId('report-summary').waitFor();
    // Before a model is chosen: a rough count, said to be one, and no guessed time.
    expect(await page.getByTestId('report-tokens').textContent()).toMatch(/^The longest example is about [\d,]+ tokens \(a rough count: once you choose a model, its tokenizer counts them exactly/);
    expect(await page.getByText(/may take/).count()).toBe(0);
    await page.getByRole('button', { name: /^Import \d+ examples$/ }).click();
    await page.getByText(/^Imported: /).waitFor();
    // A warning that names a row opens that example in the list, once imported; no command-line words.
    const near = page.locator('table.problems tr', { hasText: 'almost the same' });
    expect(await near.textContent()).not.toMatch(/--[a-z]/);
    await near.getByRole('button', { name: 'Show row 14 in your examples' }).click();
    await expect.poll(() => s.focused()).toMatch(/^example-(train|val)-\d+$/);
    const focusedId = await s.focused();
    expect(await page.locator(`#${focusedId}`).textContent()).toContain('from row 14 of your file');
    expect(await page.locator(`#${focusedId}`).textContent()).toContain('How do I reset my password, please?');
    await page.getByRole('button', { name: 'Next: choose a model' }).click();
    if (!(await page.getByText('stories260K-hf', { exact: true }).count())) {
      app.dialogAnswers.push(TINY_MODEL);
      await page.getByRole('button', { name: 'Add a model folder…' }).click();
    }
    await page.getByLabel(/stories260K-hf/).check();

    // Data step with the model chosen: counted by its tokenizer, against the Tune step's max length.
    await page.locator('#step-tab-data').click();
    const summary = page.getByTestId('length-summary');
    await summary.waitFor({ timeout: 60_000 });
    const dataWords = (await summary.locator('p').first().textContent()) ?? '';
    const m = /^Counted with the chosen model's tokenizer: the longest example has ([\d,]+) tokens\. (\d+) of (\d+) is longer than the max length of 512 tokens, so tuning would leave it out\./.exec(dataWords);
    expect(m, dataWords).not.toBeNull();
    const [, longest, tooLong] = m!;
    const dataLink = (await page.getByTestId('long-examples').getByRole('button').first().textContent()) ?? '';
    expect(dataLink).toMatch(/^Show example \d+ (to learn from|held out) \(row 12 of your file\)$/);
    await s.shot('data-length-summary');
    // Fault 16: the time is the measured one (the same Measure line as the Model and Tune steps), not a guess.
    await expect.poll(() => page.getByTestId('pass-estimate').count()).toBe(1);

    // Tune: the same numbers from the same check; the example it names opens in the Data step's list.
    await page.locator('#step-tab-tune').click();
    // Fault 16: the help and the warning use the same words for what happens to longer examples.
    await page.getByText('Advanced settings').click();
    expect(await page.locator('#adv-maxLength-help').textContent()).toMatch(/Longer examples are left out of tuning/);
    await page.getByRole('button', { name: 'Start tuning' }).click();
    const warning = page.getByTestId('length-warning');
    await warning.waitFor({ timeout: 60_000 });
    const tuneWords = (await warning.locator('p').first().textContent()) ?? '';
    expect(tuneWords).toContain(`${tooLong} example of`);
    expect(tuneWords).toContain(`(the longest has ${longest} tokens)`);
    expect(tuneWords).toContain('tuning would leave it out');
    const link = warning.getByRole('button', { name: dataLink });
    await link.click();
    await page.getByRole('heading', { name: 'Step 1 of 5: Data' }).waitFor();
    const [, n, list] = /^Show example (\d+) (to learn from|held out)/.exec(dataLink)!;
    const id = `example-${list === 'held out' ? 'val' : 'train'}-${n}`;
    await expect.poll(() => s.focused()).toBe(id);
    const shown = page.locator(`#${id}`);
    expect(await shown.getAttribute('class')).toBe('marked');
    expect(await shown.getByTestId(`example-row-${n}`).textContent()).toBe(`Example ${n}, from row 12 of your file`);
    expect(await shown.textContent()).toContain('Tell me the whole policy.');
    await s.shot('data-example-shown');

    // Search: only the examples that contain the words, each with its own number and file row.
    await page.locator('#step-tab-data').click();
    await page.getByRole('button', { name: 'To learn from', exact: true }).click();
    await page.getByLabel('Search your examples').fill('REFUND');
    await expect.poll(() => page.getByTestId('examples-showing').textContent()).toMatch(/^\d+ examples? contains? “REFUND”; showing 1–\d+\.$/);
    const found = await page.locator('ol.examples > li').allTextContents();
    expect(found.length).toBeGreaterThan(0);
    for (const t of found) expect(t.toLowerCase()).toContain('refund');
    await page.getByLabel('Search your examples').fill('no such words anywhere');
    await expect.poll(() => page.getByTestId('examples-showing').textContent()).toBe('No example contains “no such words anywhere”.');
    expect(s.pageErrors).toEqual([]);
    await page.getByRole('button', { name: 'Switch project' }).click();
  }, 300_000);
  it('fixes a rejected row by its fields, and says an import made before the fix must be made again', async () => {
    const { page, app } = s;
    await home();
    await page.getByLabel('Project name').fill('Fix walk');
    await page.getByRole('button', { name: 'Create project' }).click();
    app.dialogAnswers.push(FIXTURE);
    await page.getByRole('button', { name: 'Choose a file…' }).click();
    const summary = page.getByTestId('report-summary');
    await summary.waitFor();
    expect(await summary.textContent()).toMatch(/: 10 ready to use, 1 left out/);
    await page.getByRole('button', { name: 'Import 10 examples' }).click();
    await page.getByText(/^Imported: /).waitFor();

    // Fault 4: the broken row is its fields, the answer it lacks empty and marked; no raw JSON to edit.
    expect(await page.getByLabel('Row 4: instruction').inputValue()).toBe('Broken row with no answer');
    const answer = page.getByLabel('Row 4: output');
    expect(await answer.inputValue()).toBe('');
    expect(await answer.getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByLabel('Row 4 text').count()).toBe(0);
    await answer.fill('Yes: write to us and we answer within a day.');
    await page.getByRole('button', { name: 'Save row 4' }).click();
    await expect.poll(() => summary.textContent()).toMatch(/: 11 ready to use\./);
    // The earlier import is not shown as if current: it says to import again, and the button says so.
    expect(await page.getByText(/^Imported: /).count()).toBe(0);
    expect(await page.getByTestId('import-stale').textContent()).toMatch(/^You fixed rows after importing: the project still has the 10 examples imported before\. Import again/);
    await s.shot('fix-row-stale');
    await page.getByRole('button', { name: 'Import 11 examples again' }).click();
    await page.getByText(/^Imported: 1\d examples to learn from/).waitFor();
    expect(await page.getByTestId('import-stale').count()).toBe(0);
    const project = await app.handlers['projects.open']({ name: 'Fix walk' });
    expect(project.data!.train + project.data!.val).toBe(11);
    expect(s.pageErrors).toEqual([]);
    await page.getByRole('button', { name: 'Switch project' }).click();
  }, 120_000);

  it('keeps a run started before the list of runs arrives, as on a busy computer', async () => {
    const { page, app } = s;
    await projectWithModel('Slow list');
    // The Tune step's list of runs (none yet) answers only after a run has started and finished.
    const listRuns = app.handlers['tune.runs'];
    let answer!: () => void;
    const late = new Promise<void>((r) => (answer = r));
    let asked = 0;
    app.handlers['tune.runs'] = async (req) => {
      asked++;
      const list = await listRuns(req);
      await late;
      return list;
    };
    try {
      await page.getByRole('button', { name: 'Next: tune' }).click();
      await page.getByRole('heading', { name: 'Step 3 of 5: Tune' }).waitFor();
      await expect.poll(() => asked).toBeGreaterThan(0);
      await page.getByRole('button', { name: 'Start tuning' }).click();
      await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 240_000 }).toBe('Finished');
      answer();
      // The empty list, read before the run began, does not take the run off the page.
      await new Promise((r) => setTimeout(r, 500));
      expect(await page.getByTestId('run-state').count()).toBe(1);
      expect(await page.getByTestId('run-state').textContent()).toBe('Finished');
    } finally {
      answer();
      app.handlers['tune.runs'] = listRuns;
    }
    expect(s.pageErrors).toEqual([]);
    await page.getByRole('button', { name: 'Switch project' }).click();
  }, 300_000);
});
