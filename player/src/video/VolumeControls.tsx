/**
 * The plane and window picker of a volume clip (CT / MR shown as slices): shown above the view
 * when the open clip has `volume`. A change is handed to App, which starts the session again on
 * that view (startSession with plane and window; the server keeps each view as its own clip).
 * Window presets are the clip's (`volume.windows`, CT); `auto` (percentiles) is always offered.
 */
import { viewSpacing, type VolumeInfo, type VolumeView } from './volume-view.js';

export interface VolumeControlsProps {
  volume: VolumeInfo;
  view: VolumeView;
  /** Slices in this view (the session's frame count). */
  slices: number;
  onChange(view: VolumeView): void;
}

const mm = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/0+$/, ''));

export function VolumeControls(p: VolumeControlsProps) {
  const windows = p.volume.windows ?? [];
  const sp = viewSpacing(p.volume, p.view.plane);
  return (
    <div className="volume-controls" data-testid="volume-controls" style={{ display: 'flex', flexWrap: 'wrap', gap: 10, alignItems: 'center' }}>
      <span className="panel-title">{p.volume.modality}</span>
      <label>
        plane{' '}
        <select aria-label="plane" data-testid="volume-plane" value={p.view.plane} onChange={(e) => p.onChange({ ...p.view, plane: e.target.value })}>
          {p.volume.planes.map((pl) => (
            <option key={pl} value={pl}>
              {pl}
            </option>
          ))}
        </select>
      </label>
      <label>
        window{' '}
        <select
          aria-label="window"
          data-testid="volume-window"
          value={p.view.window ?? ''}
          onChange={(e) => p.onChange({ plane: p.view.plane, ...(e.target.value ? { window: e.target.value } : {}) })}
        >
          <option value="">{windows.length ? `default (${windows[0]!.name})` : 'default (auto)'}</option>
          {windows.map((w) => (
            <option key={w.name} value={w.name}>
              {w.name} ({w.center} / {w.width})
            </option>
          ))}
          <option value="auto">auto (percentiles)</option>
        </select>
      </label>
      <small data-testid="volume-spacing">
        {p.slices} slices · {mm(sp[0])} × {mm(sp[1])} mm pixels, {mm(sp[2])} mm apart
      </small>
    </div>
  );
}
