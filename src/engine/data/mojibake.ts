/**
 * Mojibake: UTF-8 text that was once read as Windows-1252 (or Latin-1) and saved again, so that
 * "é" became "Ã©", "’" became "â€™" and "£" became "Â£".
 *
 * A UTF-8 lead byte 0xC2/0xC3 read as Windows-1252 gives "Â"/"Ã", and the continuation byte
 * (0x80–0xBF) that follows gives a character of U+0080–U+00BF or one of Windows-1252's
 * replacements for 0x80–0x9F ("€", "‚", "™", …). Three-byte punctuation (U+2000–U+20FF: quotes,
 * dashes, "…", "€") starts with 0xE2 0x80/0x82 = "â€"/"â‚". Those pairs almost never occur in real
 * text in any language, so finding one is reported; a rare false alarm costs one row, which the
 * report names.
 */

// Windows-1252's characters for bytes 0x80–0x9F (the ones that differ from Latin-1).
const CP1252_HIGH = '€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ';
const CONT = `[\\u0080-\\u00BF${CP1252_HIGH}]`;
const MOJIBAKE = new RegExp(`[ÂÃ]${CONT}|â€|â‚¬|ï»¿|Ã[ÅŠŽ]`, 'u');

/** The first suspicious sequence with a little context, or undefined. */
export function findMojibake(text: string): string | undefined {
  const m = MOJIBAKE.exec(text);
  if (!m) return undefined;
  const start = Math.max(0, m.index - 8);
  const end = Math.min(text.length, m.index + m[0].length + 8);
  return text.slice(start, end).replace(/\s+/g, ' ');
}
