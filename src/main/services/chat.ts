/**
 * Chat sessions in main: one open model (with or without the run's adapter) per session, one
 * answer at a time per session (tuned and base take turns), each answer a stream that can be
 * stopped by its id.
 */
import type { Example, GenerateResult, Sampling } from '../../shared/contract.js';
import { AttuneError } from '../../shared/errors.js';
import type { ChatHandle } from '../engine.js';
import { newId } from '../workspace.js';

interface Session {
  handle: ChatHandle;
  hasAdapter: boolean;
  /** The answer being written (or the last one): the next waits for it. */
  queue: Promise<unknown>;
}

export interface GenerateRequest {
  sessionId: string;
  streamId: string;
  which: 'tuned' | 'base';
  messages: Example['messages'];
  sampling: Sampling;
}

export class ChatSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly streams = new Map<string, AbortController>();

  /** Keeps an opened model as a new session. */
  add(handle: ChatHandle, hasAdapter: boolean): { sessionId: string; hasAdapter: boolean } {
    const sessionId = newId('chat');
    this.sessions.set(sessionId, { handle, hasAdapter, queue: Promise.resolve() });
    return { sessionId, hasAdapter };
  }

  /** Writes one answer, streaming its pieces to `onToken`; waits for the session's previous answer. */
  async generate(req: GenerateRequest, onToken: (delta: string) => void): Promise<GenerateResult> {
    const s = this.sessions.get(req.sessionId);
    if (!s) throw new AttuneError('chat.closed');
    if (req.which === 'tuned' && !s.hasAdapter) throw new AttuneError('chat.no-adapter');
    if (this.streams.has(req.streamId)) throw new AttuneError('chat.stream-busy');
    const ctl = new AbortController();
    this.streams.set(req.streamId, ctl);
    const run = s.queue.then(async (): Promise<GenerateResult> => {
      if (ctl.signal.aborted) return { text: '', tokens: 0, promptTokens: 0, tokensPerSecond: 0, stopped: true };
      const r = await s.handle.generate(req.messages, { ...req.sampling, loraScale: req.which === 'tuned' ? 1 : 0 }, { onToken, signal: ctl.signal });
      return { ...r, stopped: ctl.signal.aborted };
    });
    s.queue = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      this.streams.delete(req.streamId);
    }
  }

  /** Stops an answer being written (or waiting its turn); false when there is none by that id. */
  stop(streamId: string): boolean {
    const c = this.streams.get(streamId);
    c?.abort();
    return !!c;
  }

  /** Closes a session once its current answer is written. */
  async close(sessionId: string): Promise<boolean> {
    const s = this.sessions.get(sessionId);
    this.sessions.delete(sessionId);
    if (s) await s.queue.then(() => s.handle.close());
    return !!s;
  }

  /** At quit: stops every answer and closes every session. */
  async dispose(): Promise<void> {
    for (const c of this.streams.values()) c.abort();
    await Promise.all([...this.sessions.values()].map((s) => s.queue.then(() => s.handle.close()).catch(() => undefined)));
    this.sessions.clear();
  }
}
