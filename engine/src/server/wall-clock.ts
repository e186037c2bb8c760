/**
 * The clock live frames are stamped with (`sourceMs`): wall time in ms with sub-ms steps, on the
 * system clock the player's paint times are taken on, so glass-to-glass latency can be measured
 * across the two (see createWallClock in protocol.ts).
 */
import { createWallClock } from '../protocol.js';

export const wallMs = createWallClock();
