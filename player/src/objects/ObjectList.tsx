/**
 * The objects of the session: colour (its class's when its name is a label of the set, else its
 * own), name (editable), opacity, hide, delete, and which one clicks and the brush go to; above
 * them the display settings every mask shares (opacity, outline only).
 */
import { css, objectColor, type Rgb } from '../overlay/colors.js';

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
  /** An object's colour (default: its own). */
  colorOf?: (objectId: number) => Rgb;
  /** Per-object opacity factor (0..1, default 1) and its slider. */
  objectOpacity?: ReadonlyMap<number, number>;
  onObjectOpacity?(id: number, a: number): void;
  /** Global fill opacity (0..1) and outline-only mode; the controls show when the handlers are given. */
  opacity?: number;
  onOpacity?(a: number): void;
  outline?: boolean;
  onOutline?(o: boolean): void;
}

export function ObjectList(p: ObjectListProps) {
  const colorOf = p.colorOf ?? objectColor;
  return (
    <div className="objects">
      <div className="panel-title">
        Objects <button onClick={p.onAdd}>+ New object</button>
      </div>
      {(p.onOpacity || p.onOutline) && (
        <div className="display-settings">
          {p.onOpacity && (
            <label title="opacity of every mask">
              opacity
              <input type="range" min={0} max={100} value={Math.round((p.opacity ?? 0.5) * 100)} data-testid="opacity" onChange={(e) => p.onOpacity!(Number(e.target.value) / 100)} />
            </label>
          )}
          {p.onOutline && (
            <label title="draw mask contours only">
              <input type="checkbox" checked={!!p.outline} data-testid="outline" onChange={(e) => p.onOutline!(e.target.checked)} />
              outline
            </label>
          )}
        </div>
      )}
      {p.objects.length === 0 && <div className="hint">Click the video to add a positive point (right-click or Alt/Shift-click: negative, drag: box).</div>}
      <ul>
        {p.objects.map((o) => {
          const a = p.objectOpacity?.get(o.id) ?? 1;
          return (
            <li key={o.id} className={o.id === p.active ? 'active' : ''} onClick={() => p.onSelect(o.id)} data-object={o.id}>
              <div className="object-row">
                <span className="swatch" style={{ background: css(colorOf(o.id)), opacity: o.hidden ? 0.3 : 1 }} data-testid={`swatch-${o.id}`} />
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
              </div>
              {p.onObjectOpacity && (
                <input
                  type="range"
                  className="object-opacity"
                  min={0}
                  max={100}
                  value={Math.round(a * 100)}
                  aria-label={`opacity of object ${o.id}`}
                  onClick={(e) => e.stopPropagation()}
                  onChange={(e) => p.onObjectOpacity!(o.id, Number(e.target.value) / 100)}
                />
              )}
            </li>
          );
        })}
      </ul>
    </div>
  );
}
