/**
 * Plain text with question/answer pairs:
 *
 *   Q: Where is my order?
 *   A: Hello! ...
 *      (more lines belong to the answer until the next Q:)
 *
 * Markers: "Q:", "Question:", "A:", "Answer:" (any case; ":" or "." or ")" after them) at the
 * start of a line. A question without an answer, an answer without a question and text before
 * the first marker are each reported as a row.
 */
import type { TextLine } from './encoding.js';

export const QA_MARKER = /^\s*(q|question|a|answer)\s*[:.)]\s?(.*)$/i;

export type QaItem =
  | { kind: 'pair'; line: number; question: string; answer: string; answerLine: number }
  | { kind: 'error'; line: number; detail: string };

export async function* qaPairs(lines: AsyncIterable<TextLine>): AsyncGenerator<QaItem> {
  let q: { line: number; text: string[] } | undefined;
  let a: { line: number; text: string[] } | undefined;
  let stray: { line: number } | undefined;
  const flush = (): QaItem | undefined => {
    let item: QaItem | undefined;
    if (q && a) item = { kind: 'pair', line: q.line, question: q.text.join('\n').trim(), answer: a.text.join('\n').trim(), answerLine: a.line };
    else if (q) item = { kind: 'error', line: q.line, detail: 'there is a question (Q:) here but no answer (A:) after it.' };
    else if (a) item = { kind: 'error', line: a.line, detail: 'there is an answer (A:) here with no question (Q:) before it.' };
    q = a = undefined;
    return item;
  };
  for await (const l of lines) {
    if (l.tooLong) {
      const it = flush();
      if (it) yield it;
      yield { kind: 'error', line: l.line, detail: 'this line is too long to read.' };
      continue;
    }
    const m = QA_MARKER.exec(l.text);
    if (m) {
      if (stray) {
        yield { kind: 'error', line: stray.line, detail: 'this text is not part of a question (Q:) or an answer (A:), so it was not read.' };
        stray = undefined;
      }
      const isQ = m[1]!.toLowerCase().startsWith('q');
      if (isQ) {
        const it = flush();
        if (it) yield it;
        q = { line: l.line, text: [m[2]!] };
      } else if (a) {
        // A second answer in a row: the first pair is complete, this one has no question.
        const it = flush();
        if (it) yield it;
        a = { line: l.line, text: [m[2]!] };
      } else a = { line: l.line, text: [m[2]!] };
      continue;
    }
    if (a) a.text.push(l.text);
    else if (q) q.text.push(l.text);
    else if (l.text.trim() && !stray) stray = { line: l.line };
  }
  const it = flush();
  if (it) yield it;
  if (stray) yield { kind: 'error', line: stray.line, detail: 'this text is not part of a question (Q:) or an answer (A:), so it was not read.' };
}
