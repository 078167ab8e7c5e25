/**
 * Turns a growing list of token ids into text deltas for streaming. Decoding the whole list
 * each time and diffing is simple and correct for byte-fallback tokens: a half-finished UTF-8
 * character decodes to U+FFFD, so we hold back until it completes.
 */
export class TextStream {
  private emitted = '';
  constructor(private readonly decode: (ids: number[]) => string) {}

  push(ids: number[]): string {
    const text = this.decode(ids);
    if (text.endsWith('\uFFFD')) return '';
    if (!text.startsWith(this.emitted)) {
      // Decoders may rewrite earlier text (e.g. strip a leading space); emit only growth.
      const delta = text.length > this.emitted.length ? text.slice(this.emitted.length) : '';
      this.emitted = text;
      return delta;
    }
    const delta = text.slice(this.emitted.length);
    this.emitted = text;
    return delta;
  }

  get text(): string {
    return this.emitted;
  }
}
