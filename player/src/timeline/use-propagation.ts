/**
 * The propagation panel's state: its settings, the run in progress (one or two `propagate`
 * requests, see propagation-plan.ts), progress and cancel. The last corrected frame is taken from
 * every prompt ack the page gets (connection.ts onReply), so a correction made by any part of the
 * page (clicks, boxes, brush strokes) becomes the next default start.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { PropagateDirection, ServerMessage, SessionStarted } from '../../../engine/src/protocol.js';
import { onReply, type Connection } from '../connection.js';
import { hooks } from '../test-hooks.js';
import { planPropagation, type PropagateMode, type PropagateStep } from './propagation-plan.js';
import { errorLine } from '../client-error.js';

export interface PropagationProgress {
  seq: number;
  done: number;
  total: number;
}

const PROMPT_REQUESTS = new Set(['addPoints', 'addBox', 'addMask']);

export function usePropagation(conn: React.RefObject<Connection | null>, session: SessionStarted | null, current: number, setStatus: (s: string) => void) {
  const [mode, setMode] = useState<PropagateMode>('prompt');
  const [direction, setDirection] = useState<PropagateDirection>('forward');
  const [from, setFrom] = useState(0);
  const [to, setTo] = useState(0);
  const [progress, setProgress] = useState<PropagationProgress | null>(null);
  const [lastCorrected, setLastCorrected] = useState<number | null>(null);
  /** What the masks cover (App sets it each render from the track analysis): see propagation-plan.ts. */
  const coverage = useRef<{ firstPrompt: number | null; tracked: ReadonlySet<number> }>({ firstPrompt: null, tracked: new Set() });
  const run = useRef<{ sessionId: string; steps: PropagateStep[]; seq: number; doneBefore: number; frames: number } | null>(null);
  const sessionId = session?.sessionId ?? null;
  const numFrames = session?.numFrames ?? 0;

  // A new session: no correction yet, the range is the whole clip.
  useEffect(() => {
    setLastCorrected(null);
    setFrom(0);
    setTo(Math.max(0, numFrames - 1));
    setProgress(null);
    run.current = null;
  }, [sessionId, numFrames]);

  useEffect(
    () =>
      onReply((req, reply) => {
        if (reply.type !== 'ack' || !PROMPT_REQUESTS.has(req.type) || !('sessionId' in req) || req.sessionId !== sessionId) return;
        const f = reply.frame ?? ('frame' in req ? req.frame : undefined);
        if (typeof f === 'number') setLastCorrected(f);
      }),
    [sessionId],
  );

  const sendStep = useCallback(
    (r: NonNullable<typeof run.current>) => {
      const c = conn.current;
      const step = r.steps.shift();
      if (!c || !step) return;
      r.seq = c.nextSeq;
      setProgress({ seq: r.seq, done: r.doneBefore, total: r.doneBefore });
      c.request({ type: 'propagate', sessionId: r.sessionId, ...step }).catch((e: unknown) => {
        run.current = null;
        setProgress(null);
        setStatus(errorLine(e));
      });
    },
    [conn, setStatus],
  );

  const start = useCallback(() => {
    if (!sessionId || run.current || session?.kind !== 'recorded') return;
    const steps = planPropagation({ mode, direction, numFrames, current, lastCorrected, from, to, ...coverage.current });
    setStatus('');
    const r = { sessionId, steps, seq: -1, doneBefore: 0, frames: 0 };
    run.current = r;
    sendStep(r);
  }, [sessionId, session?.kind, mode, direction, numFrames, current, lastCorrected, from, to, sendStep, setStatus]);

  const cancel = useCallback(() => {
    const r = run.current;
    if (!r) return;
    r.steps = [];
    void conn.current?.request({ type: 'cancelPropagate', sessionId: r.sessionId }).catch(() => undefined);
  }, [conn]);

  /** The server's propagation messages; true when this one was for the panel. */
  const onMessage = useCallback(
    (m: ServerMessage): boolean => {
      const r = run.current;
      if (m.type === 'propagateProgress' && m.sessionId === sessionId) {
        const base = r && m.seq === r.seq ? r.doneBefore : 0;
        hooks.lastProgress = { done: base + m.done, total: base + m.total };
        setProgress({ seq: m.seq, done: base + m.done, total: base + m.total });
        return true;
      }
      if (m.type === 'propagateDone' && m.sessionId === sessionId) {
        if (r && m.seq === r.seq) {
          r.frames += m.frames;
          r.doneBefore += m.frames;
          if (!m.cancelled && r.steps.length) {
            sendStep(r);
            return true;
          }
          run.current = null;
        }
        setProgress(null);
        const frames = r && m.seq === r.seq ? r.frames : m.frames;
        setStatus(m.cancelled ? `propagation cancelled after ${frames} frames` : `propagated over ${frames} frames`);
        return true;
      }
      return false;
    },
    [sessionId, sendStep, setStatus],
  );

  return { coverage, mode, setMode, direction, setDirection, from, setFrom, to, setTo, progress, setProgress, lastCorrected, start, cancel, onMessage, running: progress !== null };
}

export type Propagation = ReturnType<typeof usePropagation>;
