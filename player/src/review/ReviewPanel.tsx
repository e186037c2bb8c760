/**
 * The review queue: the frames the model was unsure of (review/flags.ts), each with its object
 * and reasons; clicking one seeks there. `n` / `p` step through them (keyboard bindings live in
 * keyboard/player-bindings.ts). The list shows the first 300 flags: beyond that the timeline's
 * orange marks and the keys still reach every one.
 */
import { colorOf } from '../overlay/paint.js';
import { describeReason, type Flag } from './flags.js';

const SHOWN = 300;

export interface ReviewPanelProps {
  flags: readonly Flag[];
  current: number;
  nameOf(objectId: number): string;
  colorOf?: (objectId: number) => readonly [number, number, number];
  onSeek(frame: number): void;
}

export function ReviewPanel(p: ReviewPanelProps) {
  const frames = new Set(p.flags.map((f) => f.frame)).size;
  return (
    <div className="review" data-testid="review">
      <div className="panel-title">
        Review <small data-testid="review-count">{p.flags.length ? `${frames} frame${frames === 1 ? '' : 's'} flagged · n / p` : 'nothing flagged'}</small>
      </div>
      <ul>
        {p.flags.slice(0, SHOWN).map((f) => {
          const [r, g, b] = (p.colorOf ?? colorOf)(f.objectId);
          return (
            <li key={`${f.frame}:${f.objectId}`} data-flag-frame={f.frame} className={f.frame === p.current ? 'current' : ''} onClick={() => p.onSeek(f.frame)}>
              <span className="frame">frame {f.frame}</span>
              <span className="swatch" style={{ background: `rgb(${r},${g},${b})` }} title={p.nameOf(f.objectId)} />
              <span className="why">{f.reasons.map(describeReason).join('; ')}</span>
            </li>
          );
        })}
      </ul>
      {p.flags.length > SHOWN && <small>… and {p.flags.length - SHOWN} more</small>}
    </div>
  );
}
