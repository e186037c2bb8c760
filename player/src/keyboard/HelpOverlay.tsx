/** The `?` overlay: every binding of the shortcut table (keyboard/shortcuts.ts), by group. */
import { keyLabel, useShortcutTable } from './shortcuts.js';

export function HelpOverlay({ onClose }: { onClose(): void }) {
  const table = useShortcutTable();
  const groups = new Map<string, (typeof table)[number][]>();
  for (const s of table) groups.set(s.group, [...(groups.get(s.group) ?? []), s]);
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal help-overlay" data-testid="help-overlay" role="dialog" aria-label="keyboard shortcuts" onClick={(e) => e.stopPropagation()}>
        <div className="panel-title">
          Keyboard shortcuts <button onClick={onClose}>close (Esc)</button>
        </div>
        <div className="help-groups">
          {[...groups].map(([g, list]) => (
            <table key={g}>
              <caption>{g}</caption>
              <tbody>
                {list.map((s) => (
                  <tr key={s.id} data-shortcut={s.id}>
                    <td>
                      {s.keys.map((k) => (
                        <kbd key={k}>{keyLabel(k)}</kbd>
                      ))}
                    </td>
                    <td>{s.description}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ))}
        </div>
      </div>
    </div>
  );
}
