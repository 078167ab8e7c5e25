/**
 * A question that must be answered before going on: it takes focus when it opens, keeps Tab
 * inside it, answers Escape with its last (safe) choice, and gives focus back to where it was.
 */
import { useEffect, useRef } from 'react';

export function ConfirmDialog(p: {
  id: string;
  title: string;
  children: React.ReactNode;
  choices: { label: string; primary?: boolean; onChoose: () => void }[];
  /** Where focus goes back to when it closes (the control that opened it may have been disabled meanwhile). */
  returnTo?: () => HTMLElement | null;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    box.current?.querySelector<HTMLButtonElement>('button')?.focus();
    return () => {
      // Back to the control that opened it, once it is drawn again and can take focus.
      requestAnimationFrame(() => {
        const to = p.returnTo?.() ?? before;
        if (to && document.contains(to) && !(to as HTMLButtonElement).disabled && document.activeElement === document.body) to.focus();
      });
    };
  }, []);
  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      p.choices.at(-1)?.onChoose();
      return;
    }
    if (e.key !== 'Tab') return;
    const buttons = [...(box.current?.querySelectorAll<HTMLElement>('button, [href], input, select, textarea') ?? [])];
    const first = buttons[0];
    const last = buttons.at(-1);
    if (!first || !last) return;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };
  return (
    <div ref={box} className="card dialog" role="alertdialog" aria-modal="true" aria-labelledby={`${p.id}-h`} aria-describedby={`${p.id}-text`} onKeyDown={onKeyDown}>
      <h2 id={`${p.id}-h`}>{p.title}</h2>
      <div id={`${p.id}-text`}>{p.children}</div>
      <div className="row">
        {p.choices.map((c) => (
          <button key={c.label} type="button" className={c.primary ? 'primary' : undefined} onClick={c.onChoose}>
            {c.label}
          </button>
        ))}
      </div>
    </div>
  );
}
