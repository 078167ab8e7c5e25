/**
 * Text that was decoded with the wrong code page somewhere before it reached Attune. Four traces,
 * each with its own plain-language reason:
 *
 * - replacement: U+FFFD ("�"), what a decoder writes for bytes it cannot read.
 * - mojibake: UTF-8 read as Windows-1252 (or Latin-1) and saved again. A UTF-8 lead byte becomes
 *   one Latin-1 letter (0xC2–0xDF "Â".."ß" for two-byte characters, 0xE0–0xEF "à".."ï" for
 *   three-byte ones such as CJK or "’", 0xF0–0xF4 "ð".."ô" for emoji) and each continuation byte
 *   (0x80–0xBF) a character of U+0080–U+00BF or one of Windows-1252's replacements for 0x80–0x9F
 *   ("€", "‚", "™", …). So "é" becomes "Ã©", "’" "â€™", "д" "Ð´", "中" "ä¸­".
 * - question marks: a save in a code page that lacks the letters turns each into "?", so
 *   "España" becomes "Espa?a" and a Chinese sentence "??????".
 * - private use: characters of Unicode's private-use areas, which no standard text contains
 *   (they come from symbol fonts or from decoding with the wrong table).
 *
 * Real text must pass: accents, any script, emoji, "??" at the end of a question, a URL's "?",
 * code such as `a ? b : c`. So every rule needs a trace that ordinary text almost never has:
 * - single pairs are trusted only for the common Latin-1 cases ("Ã©", "Â£", "â€"), which almost
 *   never occur in real text in any language;
 * - a longer sequence (lead letter + two or three continuation characters) counts on its own
 *   when one of them is a Latin-1 symbol (U+0080–U+00BF), since real text does not put two or
 *   three such symbols straight after "à".."ô";
 * - any other sequence counts only when the text has two or more (a mis-decoded Cyrillic, Greek
 *   or Chinese text has one per letter; German "Gruß“" has one);
 * - "?" counts inside a word made only of letters and "?" ("Espa?a"), or as runs standing for
 *   whole words ("??? ????"), never at the end of a word.
 * A rare false alarm costs one row, which the report names with the text found.
 */

// Windows-1252's characters for bytes 0x80–0x9F (the ones that differ from Latin-1).
const CP1252_HIGH = '€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ';
const CONT = `[\\u0080-\\u00BF${CP1252_HIGH}]`;
// Continuation characters without the no-break space, which French puts before "»" after "à".
const CONT_NO_NBSP = `[\\u0080-\\u009F\\u00A1-\\u00BF${CP1252_HIGH}]`;
const LATIN1_SYMBOL = /[\u0080-\u009F\u00A1-\u00BF]/;
/** Single occurrences: the common Latin-1 cases, a UTF-8 BOM and a UTF-8 "�" read as Windows-1252. */
const MOJIBAKE_SURE = new RegExp(`[ÂÃ]${CONT}|â€|â‚¬|ï»¿|ï¿½|Ã[ÅŠŽ]`, 'u');
/** Any UTF-8 multi-byte sequence read as Windows-1252 / Latin-1. */
const MOJIBAKE_ANY = new RegExp(`[\\u00C4-\\u00DF]${CONT_NO_NBSP}|[\\u00E0-\\u00EF]${CONT_NO_NBSP}{2}|[\\u00F0-\\u00F4]${CONT_NO_NBSP}{3}`, 'gu');
const PRIVATE_USE = /[\uE000-\uF8FF\u{F0000}-\u{FFFFD}\u{100000}-\u{10FFFD}]/u;

export type MisdecodingKind = 'replacement' | 'mojibake' | 'question-marks' | 'private-use';

export interface Misdecoding {
  kind: MisdecodingKind;
  /** The suspicious text with a little context, as it appears in the file. */
  sample: string;
}

function around(text: string, index: number, length: number): string {
  const start = Math.max(0, index - 10);
  const end = Math.min(text.length, index + length + 10);
  return text.slice(start, end).replace(/\s+/g, ' ');
}

/** The first suspicious UTF-8-read-as-Windows-1252 sequence with a little context, or undefined. */
export function findMojibake(text: string): string | undefined {
  const sure = MOJIBAKE_SURE.exec(text);
  if (sure) return around(text, sure.index, sure[0].length);
  let first: RegExpExecArray | undefined;
  let count = 0;
  for (const m of text.matchAll(MOJIBAKE_ANY)) {
    first ??= m;
    count++;
    // A three- or four-byte sequence with a Latin-1 symbol among its continuation characters.
    if (m[0].length >= 3 && LATIN1_SYMBOL.test(m[0].slice(1))) return around(text, m.index!, m[0].length);
    if (count >= 2) return around(text, first.index!, first[0].length);
  }
  return undefined;
}

/** Letters lost to "?": inside a word of letters ("Espa?a") or runs standing for whole words. */
export function findQuestionMarkLetters(text: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    const tokens = line.split(/\s+/).filter(Boolean);
    for (let i = 0; i < tokens.length; i++) {
      const raw = tokens[i]!;
      // Quotes, brackets and sentence punctuation around a word do not count as part of it.
      const word = raw.replace(/^[\p{Ps}\p{Pi}"'¿¡]+|[\p{Pe}\p{Pf}"'.,;:!]+$/gu, '');
      if (/^[\p{L}\p{M}?]+$/u.test(word) && /[\p{L}\p{M}]\?+[\p{L}\p{M}]/u.test(word)) return around(line, line.indexOf(raw), raw.length);
      if (/^\?+$/.test(word)) {
        const next = tokens[i + 1]?.replace(/[.,;:!]+$/, '');
        // "??? ????": several words lost; "?????? is" : one lost word followed by more text.
        if (next !== undefined && /^\?+$/.test(next) && word.length + next.length >= 4) return around(line, line.indexOf(raw), raw.length + 1 + next.length);
        if (word.length >= 4 && next !== undefined && /\p{L}/u.test(next)) return around(line, line.indexOf(raw), raw.length);
      }
    }
  }
  return undefined;
}

/** The first sign that `text` was mis-decoded, or undefined for text that looks sound. */
export function findMisdecoding(text: string): Misdecoding | undefined {
  const fffd = text.indexOf('\uFFFD');
  if (fffd >= 0) return { kind: 'replacement', sample: around(text, fffd, 1) };
  const mojibake = findMojibake(text);
  if (mojibake) return { kind: 'mojibake', sample: mojibake };
  const pua = PRIVATE_USE.exec(text);
  if (pua) {
    // The character itself shows as nothing or a box: name it by its number, with the words around it.
    const code = `U+${pua[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    const context = around(text, pua.index, pua[0].length).replace(new RegExp(PRIVATE_USE.source, 'gu'), '').trim();
    return { kind: 'private-use', sample: context ? `${code} near "${context}"` : code };
  }
  const qm = findQuestionMarkLetters(text);
  if (qm) return { kind: 'question-marks', sample: qm };
  return undefined;
}

/** The diagnostics code for each kind (see src/shared/diagnostics.ts). */
export const MISDECODING_CODES = {
  replacement: 'data.encoding-invalid',
  mojibake: 'data.mojibake',
  'question-marks': 'data.question-marks',
  'private-use': 'data.private-use',
} as const satisfies Record<MisdecodingKind, string>;
