/**
 * The player's editing state for a recorded session, apart from App so App only wires it: the
 * server's prompt list (`prompts` message: what is drawn, what undo/redo can do), the selected
 * prompt, the tool (prompt / brush / eraser) and brush radius, and the notice a prompt that found
 * nothing leaves. Keys: Delete/Backspace removes the selected prompt, Ctrl+Z undoes, Ctrl+Shift+Z
 * and Ctrl+Y redo, B and E toggle brush and eraser, `[` `]` change the radius (Esc is the app's:
 * it closes dialogs and cancels propagation). Every change goes to the server (removePrompt, undo, redo,
 * addMask); the page draws what the server answers, never a guess of its own.
 */
import { useCallback, useEffect, useRef, useState, type RefObject } from 'react';
import type { RleCounts } from '../../../engine/src/mask/rle.js';
import type { Ack, PromptInfo, PromptsMessage, ServerMessage, SessionStarted } from '../../../engine/src/protocol.js';
import type { Connection } from '../connection.js';
import { hooks } from '../test-hooks.js';
import { useShortcuts } from '../keyboard/shortcuts.js';
import { defaultRadius, stepRadius, type EditTool } from './brush.js';
import { errorLine } from '../client-error.js';

export interface Editing {
  prompts: readonly PromptInfo[];
  canUndo: boolean;
  canRedo: boolean;
  selected: number | null;
  select(id: number | null): void;
  tool: EditTool;
  setTool(t: EditTool): void;
  radius: number;
  notice: string | null;
  setNotice(n: string | null): void;
  /** Handles a server JSON message that is editing's (`prompts`); true when it was. */
  onMessage(m: ServerMessage): boolean;
  /** A prompt's ack: an empty result says so on screen. */
  onPromptAck(r: Ack, objectId: number, frame: number): void;
  removeSelected(): void;
  undo(): void;
  redo(): void;
  /** Sends a brush/eraser result as the object's mask prompt on that frame. */
  sendMask(frame: number, objectId: number, rle: RleCounts): void;
  /** Forgets everything (a new session). */
  reset(): void;
}

export interface EditingOptions {
  conn: RefObject<Connection | null>;
  session: RefObject<SessionStarted | null>;
  width: number;
  height: number;
  /** The server's list arrived: the app keeps its replay copy and objects in step. */
  onPrompts?(m: PromptsMessage): void;
  onError?(message: string): void;
}

export function useEditing(o: EditingOptions): Editing {
  const [prompts, setPrompts] = useState<readonly PromptInfo[]>([]);
  const [canUndo, setCanUndo] = useState(false);
  const [canRedo, setCanRedo] = useState(false);
  const [selected, setSelected] = useState<number | null>(null);
  const [tool, setToolState] = useState<EditTool>('prompt');
  const [radius, setRadius] = useState(() => defaultRadius(o.width || 480, o.height || 360));
  const [notice, setNotice] = useState<string | null>(null);
  const opts = useRef(o);
  opts.current = o;
  const selectedRef = useRef(selected);
  selectedRef.current = selected;

  useEffect(() => setRadius(defaultRadius(o.width || 480, o.height || 360)), [o.width, o.height]);
  useEffect(() => {
    hooks.editTool = tool;
    hooks.brushRadius = radius;
  }, [tool, radius]);

  const send = useCallback((msg: Parameters<Connection['request']>[0]) => {
    const c = opts.current.conn.current;
    if (!c) return;
    c.request(msg).catch((e: unknown) => opts.current.onError?.(errorLine(e)));
  }, []);
  const sid = () => {
    const s = opts.current.session.current;
    return s && s.kind === 'recorded' ? s.sessionId : null;
  };

  const removeSelected = useCallback(() => {
    const s = sid();
    const id = selectedRef.current;
    if (!s || id === null) return;
    setSelected(null);
    send({ type: 'removePrompt', sessionId: s, promptId: id });
  }, [send]);
  const undo = useCallback(() => {
    const s = sid();
    if (s) send({ type: 'undo', sessionId: s });
  }, [send]);
  const redo = useCallback(() => {
    const s = sid();
    if (s) send({ type: 'redo', sessionId: s });
  }, [send]);
  const setTool = useCallback((t: EditTool) => setToolState(t), []);

  const sendMask = useCallback(
    (frame: number, objectId: number, rle: RleCounts) => {
      const s = sid();
      if (!s) return;
      hooks.maskEditsSent++;
      setNotice(null);
      send({ type: 'addMask', sessionId: s, frame, objectId, rle: { size: rle.size, counts: rle.counts } });
    },
    [send],
  );

  const onMessage = useCallback((m: ServerMessage): boolean => {
    if (m.type !== 'prompts') return false;
    const s = opts.current.session.current;
    if (!s || m.sessionId !== s.sessionId) return true;
    setPrompts(m.prompts);
    setCanUndo(m.canUndo);
    setCanRedo(m.canRedo);
    hooks.promptList = { count: m.prompts.length, canUndo: m.canUndo, canRedo: m.canRedo };
    // A selection whose prompt is gone (removed, undone) goes with it.
    setSelected((sel) => (sel !== null && m.prompts.some((p) => p.promptId === sel) ? sel : null));
    opts.current.onPrompts?.(m);
    return true;
  }, []);

  const onPromptAck = useCallback((r: Ack, objectId: number, frame: number) => {
    const id = r.objectId ?? objectId;
    const f = r.frame ?? frame;
    if (r.empty) setNotice(`no mask for object ${id} on frame ${f}`);
    else setNotice(null);
  }, []);

  const reset = useCallback(() => {
    setPrompts([]);
    setCanUndo(false);
    setCanRedo(false);
    setSelected(null);
    setNotice(null);
    hooks.promptList = null;
  }, []);

  // In the player's one shortcut table (keyboard/shortcuts.ts), so the `?` help lists them too.
  const recorded = () => sid() !== null;
  useShortcuts([
    { id: 'edit-undo', keys: ['Ctrl+z'], group: 'Editing', description: 'undo the last prompt, stroke, removal or rename', enabled: recorded, run: undo },
    { id: 'edit-redo', keys: ['Ctrl+Shift+z', 'Ctrl+y'], group: 'Editing', description: 'redo', enabled: recorded, run: redo },
    {
      id: 'edit-remove-prompt',
      keys: ['Delete', 'Backspace'],
      group: 'Editing',
      description: 'remove the selected prompt (click a marker to select it)',
      enabled: () => selectedRef.current !== null,
      run: removeSelected,
    },
    {
      id: 'edit-brush',
      keys: ['b'],
      group: 'Editing',
      description: 'brush on / off (paints the active object on this frame)',
      enabled: recorded,
      run: () => setToolState((t) => (t === 'brush' ? 'prompt' : 'brush')),
    },
    { id: 'edit-eraser', keys: ['e'], group: 'Editing', description: 'eraser on / off', enabled: recorded, run: () => setToolState((t) => (t === 'eraser' ? 'prompt' : 'eraser')) },
    { id: 'edit-brush-size', keys: ['[', ']'], group: 'Editing', description: 'smaller / larger brush', enabled: recorded, run: (e) => setRadius((r) => stepRadius(r, e.key === ']')) },
  ]);

  return { prompts, canUndo, canRedo, selected, select: setSelected, tool, setTool, radius, notice, setNotice, onMessage, onPromptAck, removeSelected, undo, redo, sendMask, reset };
}
