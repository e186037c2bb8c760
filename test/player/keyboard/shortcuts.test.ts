/** The shortcut table: key matching (modifiers, implied Shift on punctuation), registration, replacement and removal. */
import { describe, expect, it } from 'vitest';
import { comboMatches, findShortcut, keyLabel, listShortcuts, parseCombo, registerShortcut } from '../../../player/src/keyboard/shortcuts.js';

const key = (k: string, m: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean; shiftKey: boolean }> = {}) => ({
  key: k,
  ctrlKey: false,
  metaKey: false,
  altKey: false,
  shiftKey: false,
  ...m,
});

describe('keyboard shortcuts', () => {
  it('matches keys with their modifiers', () => {
    expect(comboMatches('n', key('n'))).toBe(true);
    expect(comboMatches('n', key('N', { shiftKey: true }))).toBe(false);
    expect(comboMatches('Shift+f', key('F', { shiftKey: true }))).toBe(true);
    expect(comboMatches('Shift+f', key('f'))).toBe(false);
    expect(comboMatches('Ctrl+ArrowRight', key('ArrowRight', { ctrlKey: true }))).toBe(true);
    expect(comboMatches('Ctrl+ArrowRight', key('ArrowRight', { metaKey: true }))).toBe(true);
    expect(comboMatches('Ctrl+ArrowRight', key('ArrowRight'))).toBe(false);
    expect(comboMatches('ArrowRight', key('ArrowRight', { ctrlKey: true }))).toBe(false);
    // '?' is Shift+/ on most layouts: Shift is implied by the character.
    expect(comboMatches('?', key('?', { shiftKey: true }))).toBe(true);
    expect(comboMatches('>', key('>', { shiftKey: true }))).toBe(true);
    expect(comboMatches('.', key('>', { shiftKey: true }))).toBe(false);
    expect(comboMatches('3', key('3'))).toBe(true);
    expect(comboMatches('3', key('3', { altKey: true }))).toBe(false);
    expect(parseCombo('Ctrl++')).toEqual({ ctrl: true, alt: false, shift: false, key: '+' });
    expect(keyLabel('Ctrl+ArrowLeft')).toBe('Ctrl+←');
  });

  it('registers, replaces and removes bindings; listed-only ones never run', () => {
    const ran: string[] = [];
    const before = listShortcuts().length;
    const offA = registerShortcut({ id: 't-a', keys: ['x'], group: 'Test', description: 'a', run: () => ran.push('a') });
    registerShortcut({ id: 't-doc', keys: ['y'], group: 'Test', description: 'documented only' });
    expect(
      listShortcuts()
        .map((s) => s.id)
        .slice(-2),
    ).toEqual(['t-a', 't-doc']);
    findShortcut(key('x'))!.run!(new Event('keydown') as KeyboardEvent);
    expect(ran).toEqual(['a']);
    expect(findShortcut(key('y'))).toBeUndefined();
    // Same id again: replaced, not added; the old removal no longer removes the new one.
    const offB = registerShortcut({ id: 't-a', keys: ['x'], group: 'Test', description: 'b', run: () => ran.push('b'), enabled: () => ran.length < 3 });
    offA();
    expect(
      listShortcuts()
        .filter((s) => s.id === 't-a')
        .map((s) => s.description),
    ).toEqual(['b']);
    findShortcut(key('x'))!.run!(new Event('keydown') as KeyboardEvent);
    expect(ran).toEqual(['a', 'b']);
    ran.push('c');
    expect(findShortcut(key('x'))).toBeUndefined();
    offB();
    expect(listShortcuts().length).toBe(before + 1);
  });
});
