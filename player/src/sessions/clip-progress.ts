/**
 * The header's words for a clip being made ready (server `clipProgress`, issue 15): "hashing
 * 40 %", "packaging…", nothing once ready, the error code when it failed.
 */
import type { ClipProgress } from '../../../engine/src/protocol.js';

export function clipProgressText(m: Pick<ClipProgress, 'stage' | 'fraction' | 'code'>): string {
  const pct = m.fraction === null ? '' : ` ${Math.round(m.fraction * 100)} %`;
  switch (m.stage) {
    case 'hash':
      return `hashing${pct || '…'}`;
    case 'package':
      return `packaging${pct || '…'}`;
    case 'ready':
      return '';
    case 'failed':
      return `clip not ready${m.code ? ` (${m.code})` : ''}`;
  }
}
