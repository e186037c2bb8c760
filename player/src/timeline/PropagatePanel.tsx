/**
 * Propagation controls: from the last corrected frame (default), from the current frame, or over
 * a range [from, to]; forward, backward or both; progress and cancel. Enter starts, Esc cancels
 * (keyboard/player-bindings.ts).
 */
import type { PropagateDirection } from '../../../engine/src/protocol.js';
import type { PropagateMode } from './propagation-plan.js';
import type { Propagation } from './use-propagation.js';

export function PropagatePanel({ p, numFrames, disabled }: { p: Propagation; numFrames: number; disabled: boolean }) {
  const last = Math.max(0, numFrames - 1);
  const num = (v: string) => Math.min(last, Math.max(0, Math.round(Number(v) || 0)));
  return (
    <div className="propagate propagate-panel" data-testid="propagate-panel">
      <select value={p.mode} onChange={(e) => p.setMode(e.target.value as PropagateMode)} aria-label="propagate from">
        <option value="prompt">{p.lastCorrected === null ? 'from the first prompt' : `from the last correction (frame ${p.lastCorrected})`}</option>
        <option value="current">from the current frame</option>
        <option value="range">over a range</option>
      </select>
      {p.mode === 'range' && (
        <>
          <label>
            from <input type="number" min={0} max={last} value={p.from} aria-label="range from" onChange={(e) => p.setFrom(num(e.target.value))} />
          </label>
          <label>
            to <input type="number" min={0} max={last} value={p.to} aria-label="range to" onChange={(e) => p.setTo(num(e.target.value))} />
          </label>
        </>
      )}
      <select value={p.direction} onChange={(e) => p.setDirection(e.target.value as PropagateDirection)} aria-label="direction">
        <option value="forward">forward</option>
        <option value="backward">backward</option>
        <option value="both">both</option>
      </select>
      <button data-testid="propagate" disabled={p.running || disabled} onClick={p.start} title="propagate (Enter)">
        Propagate
      </button>
      {p.progress && (
        <>
          <progress data-testid="progress" max={p.progress.total || 1} value={p.progress.done} />
          <span>
            {p.progress.done}/{p.progress.total}
          </span>
          <button data-testid="cancel" onClick={p.cancel} title="cancel (Esc)">
            Cancel
          </button>
        </>
      )}
    </div>
  );
}
