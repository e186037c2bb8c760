/** The objects of the session: colour, name (editable), hide, delete, and which one clicks go to. */
import { colorOf } from '../overlay/paint.js';

export interface ObjectEntry {
  id: number;
  name: string;
  hidden: boolean;
}

export interface ObjectListProps {
  objects: readonly ObjectEntry[];
  active: number;
  onSelect(id: number): void;
  onAdd(): void;
  onRename(id: number, name: string): void;
  /** The name was edited and the field left (blur or Enter): time to tell the server. */
  onRenameDone(id: number, name: string): void;
  onToggleHidden(id: number): void;
  onDelete(id: number): void;
}

export function ObjectList(p: ObjectListProps) {
  return (
    <div className="objects">
      <div className="panel-title">
        Objects <button onClick={p.onAdd}>+ New object</button>
      </div>
      {p.objects.length === 0 && <div className="hint">Click the video to add a positive point (Alt/Shift-click: negative, drag: box).</div>}
      <ul>
        {p.objects.map((o) => {
          const [r, g, b] = colorOf(o.id);
          return (
            <li key={o.id} className={o.id === p.active ? 'active' : ''} onClick={() => p.onSelect(o.id)} data-object={o.id}>
              <span className="swatch" style={{ background: `rgb(${r},${g},${b})` }} />
              <input
                value={o.name}
                aria-label={`name of object ${o.id}`}
                onChange={(e) => p.onRename(o.id, e.target.value)}
                onBlur={(e) => p.onRenameDone(o.id, e.target.value)}
                onKeyDown={(e) => e.key === 'Enter' && e.currentTarget.blur()}
              />
              <button title={o.hidden ? 'show' : 'hide'} onClick={(e) => (e.stopPropagation(), p.onToggleHidden(o.id))}>
                {o.hidden ? 'show' : 'hide'}
              </button>
              <button title="delete" onClick={(e) => (e.stopPropagation(), p.onDelete(o.id))}>
                ✕
              </button>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
