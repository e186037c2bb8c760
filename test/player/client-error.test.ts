/** The player's errors carry the engine's codes (errors.ts), and panels show them as `E_CODE: message`. */
import { describe, expect, it } from 'vitest';
import { ERROR_INFO, ErrorCode, isCinesegError } from '../../engine/src/errors.js';
import { errorLine, httpError, notConnected, serverError } from '../../player/src/client-error.js';

describe('client errors', () => {
  it('are CinesegErrors with codes from the engine table', () => {
    const e = notConnected();
    expect(isCinesegError(e, ErrorCode.E_NOT_CONNECTED)).toBe(true);
    expect(ERROR_INFO[e.code].stage).toBe('player');
    expect(errorLine(e)).toBe('E_NOT_CONNECTED: not connected');
    expect(errorLine(serverError('E_SESSION_BUSY', 'open elsewhere'))).toBe('E_SESSION_BUSY: open elsewhere');
    expect(errorLine(new Error('plain'))).toBe('plain');
  });

  it("take an HTTP answer's coded body, or say E_HTTP_FAILED with the status", async () => {
    const coded = await httpError(new Response(JSON.stringify({ code: 'E_INPUT_EMPTY', message: 'nothing approved' }), { status: 400 }), 'POST /api/finetune');
    expect(coded.code).toBe('E_INPUT_EMPTY');
    expect(errorLine(coded)).toBe('E_INPUT_EMPTY: nothing approved');
    const bare = await httpError(new Response('<html>bad gateway</html>', { status: 502 }), 'GET /api/jobs');
    expect(bare.code).toBe(ErrorCode.E_HTTP_FAILED);
    expect(errorLine(bare)).toBe('E_HTTP_FAILED: GET /api/jobs failed (HTTP 502)');
  });
});
