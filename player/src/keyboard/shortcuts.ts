/**
 * Every keyboard shortcut of the player, in one table: components register their bindings here
 * (`registerShortcut` or the `useShortcuts` hook), one window listener dispatches them, and the
 * `?` help overlay lists the table itself, so the help can never be out of date.
 *
 * A key is written `Ctrl+Shift+ArrowRight`, `?`, `n`: modifiers first, then the KeyboardEvent
 * `key`. Letters match either case; Shift must be named for them (`Shift+f` ≠ `f`). Punctuation
 * such as `?` `<` `>` is matched by the character produced, so Shift is implied there. `Ctrl`
 * also matches ⌘ (Meta) on a Mac. A binding without `run` is listed only: its key is handled by a
 * component of its own (the video's `,` `.` and space) and must stay in the help all the same.
 * Keys typed into a text field, a select or a focused button's Enter/space are never taken.
 */
import { useEffect, useRef, useSyncExternalStore } from 'react';

export interface Shortcut {
  /** Unique; registering the same id again replaces the binding. */
  id: string;
  /** One or more keys, e.g. ['PageDown', 'Shift+.']: any of them triggers it. */
  keys: readonly string[];
  /** Heading in the help overlay: 'Frames', 'Objects', 'Review', 'Propagation', 'Editing', 'View'. */
  group: string;
  description: string;
  /** Absent: listed in the help only (the key is handled elsewhere). */
  run?: (e: KeyboardEvent) => void;
  /** Whether the binding applies now (default: always); a false one lets the key through. */
  enabled?: () => boolean;
}

const table = new Map<string, Shortcut>();
const listeners = new Set<() => void>();
let snapshot: readonly Shortcut[] = [];

function changed(): void {
  snapshot = [...table.values()];
  for (const l of listeners) l();
}

/** Adds (or replaces) a binding; returns the function that removes it. */
export function registerShortcut(s: Shortcut): () => void {
  table.set(s.id, s);
  changed();
  return () => {
    if (table.get(s.id) === s) {
      table.delete(s.id);
      changed();
    }
  };
}

/** The bindings in registration order. */
export function listShortcuts(): readonly Shortcut[] {
  return snapshot;
}

interface Combo {
  ctrl: boolean;
  alt: boolean;
  shift: boolean;
  key: string;
}

/** Parses `Ctrl+Alt+Shift+key` (the key itself may be `+`). */
export function parseCombo(s: string): Combo {
  const parts = s === '+' ? ['+'] : s.endsWith('++') ? [...s.slice(0, -2).split('+'), '+'] : s.split('+');
  const key = parts.pop()!;
  const mods = new Set(parts.map((p) => p.toLowerCase()));
  return { ctrl: mods.has('ctrl'), alt: mods.has('alt'), shift: mods.has('shift'), key };
}

type KeyLike = Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey' | 'shiftKey'>;

/** Whether a key event is this combo (see the module comment for Shift on punctuation). */
export function comboMatches(combo: string, e: KeyLike): boolean {
  const c = parseCombo(combo);
  const letter = /^[a-z]$/i.test(c.key);
  const keyOk = letter ? e.key.toLowerCase() === c.key.toLowerCase() : e.key === c.key;
  if (!keyOk) return false;
  if (c.ctrl !== (e.ctrlKey || e.metaKey) || c.alt !== e.altKey) return false;
  // A single punctuation character already says whether Shift was down ('?' is Shift+/).
  const implied = c.key.length === 1 && !letter && !/^[0-9]$/.test(c.key);
  return implied ? !c.shift || e.shiftKey : c.shift === e.shiftKey;
}

/** The binding a key event triggers (enabled, with a `run`), or undefined. */
export function findShortcut(e: KeyLike): Shortcut | undefined {
  for (const s of table.values()) {
    if (!s.run || (s.enabled && !s.enabled())) continue;
    if (s.keys.some((k) => comboMatches(k, e))) return s;
  }
  return undefined;
}

function typingInto(e: KeyboardEvent): boolean {
  const t = e.target;
  if (typeof HTMLElement === 'undefined' || !(t instanceof HTMLElement)) return false;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t.isContentEditable) return true;
  // A focused button answers Enter and space itself (a click): not twice.
  return t instanceof HTMLButtonElement && (e.key === 'Enter' || e.key === ' ');
}

/** Runs the binding of a key event, if any; true when one ran (the event's default is then prevented). */
export function dispatchKey(e: KeyboardEvent): boolean {
  if (e.defaultPrevented || typingInto(e)) return false;
  const s = findShortcut(e);
  if (!s) return false;
  e.preventDefault();
  s.run!(e);
  return true;
}

/** Installs the one window listener (call once, from the app); returns its removal. */
export function installShortcuts(target: Window = window): () => void {
  const on = (e: KeyboardEvent) => void dispatchKey(e);
  target.addEventListener('keydown', on);
  return () => target.removeEventListener('keydown', on);
}

/**
 * Registers bindings for a component's lifetime. The `run`/`enabled` functions may be fresh
 * closures each render: the table calls the latest ones, and re-registers only when the ids,
 * keys or texts change.
 */
export function useShortcuts(bindings: readonly Shortcut[]): void {
  const latest = useRef(bindings);
  latest.current = bindings;
  const shape = JSON.stringify(bindings.map((b) => [b.id, b.keys, b.group, b.description, !!b.run]));
  useEffect(() => {
    const offs = latest.current.map((b, i) =>
      registerShortcut({
        id: b.id,
        keys: b.keys,
        group: b.group,
        description: b.description,
        ...(b.run ? { run: (e: KeyboardEvent) => latest.current[i]?.run?.(e) } : {}),
        enabled: () => latest.current[i]?.enabled?.() ?? true,
      }),
    );
    return () => offs.forEach((off) => off());
  }, [shape]);
}

/** The table, re-rendering on every change (for the help overlay). */
export function useShortcutTable(): readonly Shortcut[] {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => snapshot,
  );
}

/** A key for display: `Ctrl+ArrowRight` → `Ctrl+→`. */
export function keyLabel(k: string): string {
  const names: Record<string, string> = { ArrowLeft: '←', ArrowRight: '→', ArrowUp: '↑', ArrowDown: '↓', ' ': 'Space', Escape: 'Esc' };
  const c = parseCombo(k);
  return [c.ctrl && 'Ctrl', c.alt && 'Alt', c.shift && 'Shift', names[c.key] ?? c.key].filter(Boolean).join('+');
}
