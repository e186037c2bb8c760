/**
 * Chromium driven over the DevTools protocol with nothing switched on but what the latency bench
 * needs: open a page, evaluate an expression, click at a point. Playwright drives the e2e tests,
 * but it enables the Network domain on every page, and then Chromium copies each WebSocket
 * message (base64) into protocol events that Playwright parses in the server's own process: on
 * two cores that extra work, and the garbage it leaves in the server's heap, was most of the live
 * latency's tail (p99 46–60 ms measured that way, 39–46 ms without). A viewer's browser carries no
 * such client, so the bench must not either.
 *
 * The protocol runs over `--remote-debugging-pipe` (fd 3 in, fd 4 out, messages ended by NUL), so
 * no debugging port is opened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { CinesegError, ErrorCode } from '../errors.js';

export interface DevtoolsLaunchOptions {
  executablePath: string;
  /** Chromium switches (headless, sandbox, ...); the profile and pipe switches are added here. */
  args: readonly string[];
  /** An empty directory for the profile. */
  profileDir: string;
  /** How long one protocol command may take (default 30 s). */
  commandTimeoutMs?: number;
}

interface Pending {
  method: string;
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class DevtoolsBrowser {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private inbox = '';
  private exited = false;
  /** Chromium's product string, e.g. `Chrome/142.0.7444.175`. */
  version = 'unknown';

  private constructor(
    private readonly proc: ChildProcess,
    private readonly toBrowser: Writable,
    fromBrowser: Readable,
    private readonly timeoutMs: number,
  ) {
    fromBrowser.setEncoding('utf8');
    fromBrowser.on('data', (text: string) => this.receive(text));
    const gone = (why: string) => {
      this.exited = true;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.reject(new CinesegError(ErrorCode.E_INTERNAL, `Chromium ${why} during ${p.method}`));
      }
    };
    proc.once('exit', (code, signal) => gone(`exited (${signal ?? code})`));
    proc.once('error', (e) => gone(`failed to start: ${e.message}`));
    // A write after Chromium died fails with EPIPE; the pending command is rejected by `gone`.
    toBrowser.on('error', () => undefined);
  }

  /**
   * Starts Chromium and waits until it answers on the pipe.
   *
   * @throws CinesegError E_USAGE when the binary cannot start, E_INTERNAL when it does not answer
   */
  static async launch(opts: DevtoolsLaunchOptions): Promise<DevtoolsBrowser> {
    const proc = spawn(opts.executablePath, [...opts.args, `--user-data-dir=${opts.profileDir}`, '--remote-debugging-pipe', 'about:blank'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    // Chromium's own log (GPU and D-Bus complaints in a container) is not ours to show.
    proc.stderr!.resume();
    const b = new DevtoolsBrowser(proc, proc.stdio[3] as Writable, proc.stdio[4] as Readable, opts.commandTimeoutMs ?? 30_000);
    try {
      const v = await b.send('Browser.getVersion');
      b.version = String(v.product ?? 'unknown');
    } catch (e) {
      await b.destroy();
      const spawnFailed = /failed to start/.test((e as Error).message);
      throw new CinesegError(spawnFailed ? ErrorCode.E_USAGE : ErrorCode.E_INTERNAL, `${opts.executablePath}: ${(e as Error).message}`, { cause: e });
    }
    return b;
  }

  /** Opens a tab at `url` with the given viewport (CSS pixels, scale 1). */
  async openPage(url: string, viewport: { width: number; height: number }): Promise<DevtoolsPage> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    await this.send('Emulation.setDeviceMetricsOverride', { width: viewport.width, height: viewport.height, deviceScaleFactor: 1, mobile: false }, sessionId);
    await this.send('Page.navigate', { url }, sessionId);
    return new DevtoolsPage((method, params) => this.send(method, params, sessionId));
  }

  /** Sends one protocol command; resolves with its result. */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new CinesegError(ErrorCode.E_INTERNAL, `Chromium is not running (${method})`));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CinesegError(ErrorCode.E_INTERNAL, `Chromium did not answer ${method} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  private receive(text: string): void {
    this.inbox += text;
    for (let end = this.inbox.indexOf('\0'); end >= 0; end = this.inbox.indexOf('\0')) {
      const raw = this.inbox.slice(0, end);
      this.inbox = this.inbox.slice(end + 1);
      let msg: { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      try {
        msg = JSON.parse(raw) as typeof msg;
      } catch {
        continue;
      }
      // Events (no id) are not asked for, apart from the few every attached session sends.
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!p) continue;
      this.pending.delete(msg.id!);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new CinesegError(ErrorCode.E_INTERNAL, `${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result ?? {});
    }
  }

  /** Closes Chromium (killed when it does not exit within 5 s); safe to call twice. */
  async destroy(): Promise<void> {
    if (this.exited || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exit = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.send('Browser.close').catch(() => undefined);
    const kill = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(kill);
  }
}

export class DevtoolsPage {
  constructor(private readonly send: (method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>) {}

  /**
   * Evaluates a JavaScript expression in the page (promises are awaited) and returns its value as
   * JSON. A thrown exception becomes an E_INTERNAL error with the page's message.
   */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
      result?: { value?: unknown };
      exceptionDetails?: { text?: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) {
      const why = r.exceptionDetails.exception?.description ?? r.exceptionDetails.text ?? 'exception';
      throw new CinesegError(ErrorCode.E_INTERNAL, `page: ${why.split('\n')[0]}`);
    }
    return r.result?.value as T;
  }

  /** Polls `expression` every 100 ms until it is truthy; errors while the page loads count as false. */
  async waitFor(expression: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let ok = false;
      try {
        ok = Boolean(await this.evaluate<unknown>(expression));
      } catch (e) {
        if (/not running|did not answer/.test((e as Error).message)) throw e;
      }
      if (ok) return;
      if (Date.now() > deadline) throw new CinesegError(ErrorCode.E_INTERNAL, `page: \`${expression}\` not true within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A left click at page coordinates (CSS pixels), as real mouse input; `modifiers` as in CDP (8 = shift). */
  async click(x: number, y: number, modifiers = 0): Promise<void> {
    await this.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y, modifiers });
    for (const type of ['mousePressed', 'mouseReleased']) await this.send('Input.dispatchMouseEvent', { type, x, y, modifiers, button: 'left', clickCount: 1 });
  }
}
