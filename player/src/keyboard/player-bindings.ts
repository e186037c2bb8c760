/**
 * The player's own shortcuts (frames, objects, review, propagation, view), registered in the one
 * table of keyboard/shortcuts.ts. The video's `,` `.` and space are handled by the recorded view
 * itself and listed here only, so the help shows every key.
 */
import { stepFlagged } from '../review/flags.js';
import { useShortcuts, type Shortcut } from './shortcuts.js';

export interface PlayerKeyDeps {
  /** A recorded session is on screen. */
  recorded: boolean;
  numFrames: number;
  /**
   * The frame on screen, or the target of a seek asked for since: read when the key is pressed,
   * not from the last render, so keys pressed faster than the page re-renders (Home then PageDown
   * on a busy machine) step from where the previous key went.
   */
  current(): number;
  seek(frame: number): void;
  objectIds: readonly number[];
  selectObject(id: number): void;
  promptedFrames: readonly number[];
  flaggedFrames: readonly number[];
  toggleOverlay(): void;
  propagate(): void;
  /** Esc: closes what is open (help, a dialog); else cancels a running propagation. */
  escape(): void;
  toggleHelp(): void;
}

export function usePlayerShortcuts(d: PlayerKeyDeps): void {
  const rec = () => d.recorded;
  const go = (f: number) => d.seek(Math.min(d.numFrames - 1, Math.max(0, f)));
  const bindings: Shortcut[] = [
    { id: 'frame-step', keys: [',', '.'], group: 'Frames', description: 'previous / next frame' },
    { id: 'play', keys: [' '], group: 'Frames', description: 'play / pause' },
    { id: 'back-10', keys: ['<', 'PageUp'], group: 'Frames', description: 'back 10 frames (Shift+,)', enabled: rec, run: () => go(d.current() - 10) },
    { id: 'forward-10', keys: ['>', 'PageDown'], group: 'Frames', description: 'forward 10 frames (Shift+.)', enabled: rec, run: () => go(d.current() + 10) },
    { id: 'first-frame', keys: ['Home'], group: 'Frames', description: 'first frame', enabled: rec, run: () => go(0) },
    { id: 'last-frame', keys: ['End'], group: 'Frames', description: 'last frame', enabled: rec, run: () => go(d.numFrames - 1) },
    {
      id: 'prev-prompted',
      keys: ['Ctrl+ArrowLeft'],
      group: 'Frames',
      description: 'previous prompted frame',
      enabled: rec,
      run: () => {
        const f = [...d.promptedFrames].reverse().find((x) => x < d.current());
        if (f !== undefined) go(f);
      },
    },
    {
      id: 'next-prompted',
      keys: ['Ctrl+ArrowRight'],
      group: 'Frames',
      description: 'next prompted frame',
      enabled: rec,
      run: () => {
        const f = d.promptedFrames.find((x) => x > d.current());
        if (f !== undefined) go(f);
      },
    },
    {
      id: 'select-object',
      keys: ['1', '2', '3', '4', '5', '6', '7', '8', '9'],
      group: 'Objects',
      description: 'select object 1 … 9 (in list order)',
      run: (e) => {
        const id = d.objectIds[Number(e.key) - 1];
        if (id !== undefined) d.selectObject(id);
      },
    },
    {
      id: 'next-flagged',
      keys: ['n', 'f'],
      group: 'Review',
      description: 'next flagged frame',
      enabled: rec,
      run: () => {
        const f = stepFlagged(d.flaggedFrames, d.current(), 1);
        if (f !== null) go(f);
      },
    },
    {
      id: 'prev-flagged',
      keys: ['p', 'Shift+f'],
      group: 'Review',
      description: 'previous flagged frame',
      enabled: rec,
      run: () => {
        const f = stepFlagged(d.flaggedFrames, d.current(), -1);
        if (f !== null) go(f);
      },
    },
    { id: 'propagate', keys: ['Enter'], group: 'Propagation', description: 'propagate (with the panel’s settings)', enabled: rec, run: () => d.propagate() },
    { id: 'escape', keys: ['Escape'], group: 'Propagation', description: 'close help / dialog, else cancel propagation', run: () => d.escape() },
    { id: 'overlay', keys: ['o'], group: 'View', description: 'toggle the mask overlay', run: () => d.toggleOverlay() },
    { id: 'help', keys: ['?'], group: 'View', description: 'this help', run: () => d.toggleHelp() },
  ];
  useShortcuts(bindings);
}
