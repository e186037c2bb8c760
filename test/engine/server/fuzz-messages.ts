/**
 * A seeded generator of malformed, hostile and out-of-range WebSocket messages for ws-fuzz.test.ts.
 * The same seed and targets give the same sequence, so a failure names its seed and case index and
 * can be replayed. Every case says which replies are acceptable: error codes, or `ack` /
 * `sessionStarted` for messages that are (after all) valid. State decides between some of them
 * (a prompt may meet a running propagation, E_SESSION_BUSY, or the session's prompt budget,
 * E_RATE_LIMITED), so a case lists every reply the protocol allows it, and no other.
 *
 * Valid work (prompts, propagations, new sessions, object removals) runs the real tracker, so it
 * has a fixed budget per generator; when spent, those cases turn into pings. That keeps the
 * fuzzer's run time bounded by the number of messages, not by what the random draws ask for.
 */
import { prng } from '../../fixtures/prng.mjs';

/** What the fuzzer aims at. */
export interface FuzzTargets {
  /** A recorded session of the fuzzing connection: in-range prompts land on it. */
  ownSession: string;
  /** A session of another connection: its id must be worth nothing here. */
  foreignSession: string;
  /** A clip id the catalog has. */
  clip: string;
  width: number;
  height: number;
  numFrames: number;
}

export type Reply = string; // an E_* code, 'ack' or 'sessionStarted'

export type FuzzCase = { kind: 'text'; category: string; text: string; allowed: readonly Reply[] } | { kind: 'binary'; category: string; data: Uint8Array; allowed: readonly Reply[] };

const INVALID = 'E_PROTOCOL_INVALID';
/** What a request on one's own recorded session may also meet, whatever it asks. */
const BUSY = ['E_SESSION_BUSY'];
const PROMPT_STATE = ['E_SESSION_BUSY', 'E_RATE_LIMITED'];
const SESSION_TYPES = ['addPoints', 'addBox', 'addMask', 'propagate', 'cancelPropagate', 'removeObject', 'closeSession'] as const;

/** Text just over the protocol's text bound (1 MiB) and under the connection's payload bound. */
export const TOO_LARGE_TEXT_BYTES = (1 << 20) + 4096;

export class FuzzMessages {
  private readonly r: () => number;
  private seq = 1_000_000;
  private hugeSeq = 0;
  /** Remaining valid work. */
  private readonly budget = { prompts: 40, masks: 4, propagates: 8, removes: 3, starts: 4 };

  constructor(
    readonly seed: number,
    private readonly t: FuzzTargets,
  ) {
    this.r = prng(seed);
  }

  // ---- random helpers
  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  private chance(p: number): boolean {
    return this.r() < p;
  }
  private str(n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_'): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.r() * alphabet.length)];
    return s;
  }
  private nextSeq(): number {
    return this.seq++;
  }

  // ---- well-formed pieces
  private point(): { x: number; y: number; label: 0 | 1 } {
    return { x: this.int(0, this.t.width - 1) + 0.5, y: this.int(0, this.t.height - 1) + 0.5, label: this.chance(0.8) ? 1 : 0 };
  }
  private box(): [number, number, number, number] {
    const x0 = this.int(0, this.t.width - 10);
    const y0 = this.int(0, this.t.height - 10);
    return [x0, y0, x0 + this.int(4, 9), y0 + this.int(4, 9)];
  }
  private frame(): number {
    // Valid prompts gather on a few frames: the tracker's work per removal replays them all.
    return this.int(0, Math.min(4, this.t.numFrames - 1));
  }
  /** COCO counts of a w x h mask: one vertical run of foreground in the middle columns. */
  private rle(h = this.t.height, w = this.t.width): { size: [number, number]; counts: number[] } {
    const total = h * w;
    const start = Math.floor(total / 3);
    return { size: [h, w], counts: [start, Math.floor(total / 4), total - start - Math.floor(total / 4)] };
  }

  /** A request of `type` on `sessionId` with every field valid. */
  private request(type: (typeof SESSION_TYPES)[number] | 'ping' | 'startSession', sessionId: string): Record<string, unknown> {
    const base = { v: 1, seq: this.nextSeq(), type };
    switch (type) {
      case 'addPoints':
        return { ...base, sessionId, frame: this.frame(), objectId: this.int(1, 3), points: [this.point()] };
      case 'addBox':
        return { ...base, sessionId, frame: this.frame(), objectId: this.int(1, 3), box: this.box() };
      case 'addMask':
        return { ...base, sessionId, frame: this.frame(), objectId: this.int(1, 3), rle: this.rle() };
      case 'propagate':
        return { ...base, sessionId, direction: this.pick(['forward', 'backward', 'both']), maxFrames: this.int(0, 3) };
      case 'cancelPropagate':
      case 'closeSession':
        return { ...base, sessionId };
      case 'removeObject':
        return { ...base, sessionId, objectId: this.int(1, 3) };
      case 'startSession':
        return { ...base, clip: this.t.clip };
      case 'ping':
        return base;
    }
  }

  private text(category: string, msg: unknown, allowed: readonly Reply[]): FuzzCase {
    return { kind: 'text', category, text: JSON.stringify(msg), allowed };
  }

  private ping(category: string): FuzzCase {
    return this.text(category, this.request('ping', ''), ['ack']);
  }

  /** The next case. */
  next(): FuzzCase {
    const x = this.r();
    const cats: [number, () => FuzzCase][] = [
      [0.12, () => this.badJson()],
      [0.12, () => this.wrongTypes()],
      [0.06, () => this.missingOrExtra()],
      [0.04, () => this.unknownType()],
      [0.03, () => this.badVersion()],
      [0.04, () => this.badSeq()],
      [0.08, () => this.unknownSession()],
      [0.06, () => this.foreignSession()],
      [0.1, () => this.outOfRange()],
      [0.06, () => this.badPoints()],
      [0.03, () => this.badBox()],
      [0.04, () => this.badRle()],
      [0.04, () => this.binary()],
      [0.02, () => this.deepNesting()],
      [0.03, () => this.protoKeys()],
      [0.02, () => this.longStrings()],
      [0.02, () => this.badClip()],
      [0.03, () => this.wrongOrder()],
      [0.002, () => this.tooLarge()],
      [0.058, () => this.valid()],
    ];
    let acc = 0;
    for (const [p, make] of cats) {
      acc += p;
      if (x < acc) return make();
    }
    return this.ping('ping');
  }

  // ---- categories

  private badJson(): FuzzCase {
    const valid = JSON.stringify(this.request(this.pick(['ping', ...SESSION_TYPES]), this.t.ownSession));
    const choices = [
      () => valid.slice(0, this.int(0, valid.length - 1)), // cut anywhere
      () => valid.replace(/}$/, ',}'), // trailing comma
      () => valid.replace(/"/g, "'"),
      () => `${valid}${valid}`,
      () => '',
      () => ' \t\n',
      () => 'NaN',
      () => valid.replace(/"seq":\d+/, '"seq":NaN'),
      () => '\ufeff' + valid,
      () => this.str(this.int(1, 200), '{}[]":,0123456789abcdefnrtu\\ '),
      () => String.fromCharCode(...Array.from({ length: this.int(1, 64) }, () => this.int(0, 0xffff))),
      // Valid JSON that is not an object: parsed, then refused by shape.
      () => this.pick(['null', 'true', '0', '-1', '"ping"', '[]', '[{"v":1,"seq":1,"type":"ping"}]', '1e999']),
    ];
    return { kind: 'text', category: 'bad-json', text: this.pick(choices)(), allowed: ['E_PROTOCOL_JSON', INVALID] };
  }

  /** One field of a valid message replaced by a value of the wrong type. */
  private wrongTypes(): FuzzCase {
    const type = this.pick(['ping', 'startSession', ...SESSION_TYPES] as const);
    const m = this.request(type, this.t.ownSession);
    const fields = Object.keys(m).filter((k) => k !== 'seq');
    const f = this.pick(fields);
    const numberish = ['v', 'frame', 'objectId', 'maxFrames'];
    const wrong: unknown[] = numberish.includes(f)
      ? ['1', null, true, [], {}, [1], { n: 1 }, '', 'NaN']
      : f === 'points' || f === 'box' || f === 'counts'
        ? ['[]', 1, null, { 0: 1 }, true, [null], [[1, 2]], ['a', 'b', 'c', 'd']]
        : f === 'rle'
          ? ['0 1', [1, 2], null, { size: '1x1', counts: [] }, { size: [1], counts: [1] }, { counts: [1] }]
          : f === 'direction'
            ? [1, 'sideways', null, ['forward']]
            : [1, null, true, [], {}, 1.5];
    m[f] = this.pick(wrong);
    // A wrong `v` is its own code; everything else is a shape error.
    return this.text('wrong-types', m, f === 'v' ? ['E_PROTOCOL_VERSION'] : [INVALID]);
  }

  private missingOrExtra(): FuzzCase {
    if (this.chance(0.5)) {
      const type = this.pick(['addPoints', 'addBox', 'addMask', 'removeObject', 'startSession'] as const);
      const m = this.request(type, this.t.ownSession);
      const required = {
        addPoints: ['sessionId', 'frame', 'objectId', 'points'],
        addBox: ['sessionId', 'frame', 'objectId', 'box'],
        addMask: ['sessionId', 'frame', 'objectId', 'rle'],
        removeObject: ['sessionId', 'objectId'],
        startSession: ['clip'],
      }[type];
      delete m[this.pick([...required, 'type', 'v'])];
      return this.text('missing-field', m, [INVALID]);
    }
    // Unknown fields are ignored: the message is still what it was.
    const m = this.chance(0.5) ? this.request('ping', '') : this.request(this.pick(SESSION_TYPES), `nope-${this.str(8)}`);
    for (let i = this.int(1, 5); i > 0; i--) m[`x_${this.str(this.int(1, 12))}`] = this.pick([1, 'x', null, [1, 2], { a: { b: 1 } }]);
    return this.text('extra-fields', m, m.type === 'ping' ? ['ack'] : ['E_SESSION_UNKNOWN']);
  }

  private unknownType(): FuzzCase {
    const m = this.request('ping', '');
    m.type = this.pick(['', 'Ping', 'PING', 'hello', '__proto__', 'constructor', 'toString', 'startsession', 'addPoint', 'delete', 'exec', this.str(40)]);
    return this.text('unknown-type', m, [INVALID]);
  }

  private badVersion(): FuzzCase {
    const m = this.request(this.pick(['ping', 'propagate'] as const), this.t.ownSession);
    if (this.chance(0.2)) {
      delete m.v;
      return this.text('bad-version', m, [INVALID]);
    }
    m.v = this.pick([0, 2, -1, 1.5, '1', null, 1e9, [1], { v: 1 }]);
    return this.text('bad-version', m, ['E_PROTOCOL_VERSION']);
  }

  private badSeq(): FuzzCase {
    const m = this.request('ping', '');
    if (this.chance(0.25)) {
      // Beyond 2^53: an integer to JSON, not to the protocol. Unique, so its reply can be matched.
      m.seq = 2 ** 60 + ++this.hugeSeq * 4096;
      return this.text('bad-seq', m, [INVALID]);
    }
    if (this.chance(0.2)) delete m.seq;
    else m.seq = this.pick([-1, -0.5, 1.5, '7', null, true, [], {}, '']);
    return this.text('bad-seq', m, [INVALID]);
  }

  private unknownSession(): FuzzCase {
    const id = this.pick([
      () => `${this.str(8, '0123456789abcdef')}-${this.str(4, '0123456789abcdef')}-4${this.str(3, '0123456789abcdef')}-a${this.str(3, '0123456789abcdef')}-${this.str(12, '0123456789abcdef')}`,
      () => this.str(this.int(1, 64)),
      () => this.t.ownSession.toUpperCase(),
      () => this.t.ownSession.slice(0, -1),
      () => ' ' + this.t.ownSession,
      () => '__proto__',
      () => 'constructor',
      () => 'hasOwnProperty',
    ])();
    return this.text('unknown-session', this.request(this.pick(SESSION_TYPES), id), ['E_SESSION_UNKNOWN']);
  }

  private foreignSession(): FuzzCase {
    // Every request, closeSession included: another connection's session must not be touched.
    return this.text('foreign-session', this.request(this.pick(SESSION_TYPES), this.t.foreignSession), ['E_SESSION_UNKNOWN']);
  }

  private outOfRange(): FuzzCase {
    const type = this.pick(['addPoints', 'addBox', 'addMask', 'propagate', 'removeObject'] as const);
    const m = this.request(type, this.t.ownSession);
    const n = this.t.numFrames;
    if (type === 'removeObject' || this.chance(0.3)) {
      const badId = this.pick([-1, -0.0001, 1.5, 2 ** 32, 0xffff_ffff, 1e300, Number.MAX_SAFE_INTEGER + 2]);
      m.objectId = badId;
      if (type === 'propagate') m.maxFrames = this.pick([-1, 0.5, 1e300]);
      return this.text('out-of-range', m, [INVALID]);
    }
    if (type === 'propagate') {
      if (this.chance(0.5)) {
        m.startFrame = this.pick([n, n + 1, 2 ** 31, Number.MAX_SAFE_INTEGER]);
        return this.text('out-of-range', m, ['E_FRAME_OUT_OF_RANGE', 'E_TRACKER_STATE', ...BUSY]);
      }
      m.startFrame = this.pick([-1, 0.5, 1e300, 2 ** 53 + 2]);
      return this.text('out-of-range', m, [INVALID]);
    }
    if (this.chance(0.6)) {
      m.frame = this.pick([n, n + 1, 1000, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER]);
      return this.text('out-of-range', m, ['E_FRAME_OUT_OF_RANGE', ...PROMPT_STATE]);
    }
    m.frame = this.pick([-1, -(2 ** 31), 0.5, 1e-9, 1e300, 2 ** 53 + 2]);
    return this.text('out-of-range', m, [INVALID]);
  }

  /** Refused prompts also name objects no valid prompt ever reaches: they must leave no trace. */
  private badObject(m: Record<string, unknown>): Record<string, unknown> {
    if (this.chance(0.5)) m.objectId = this.int(4, 9);
    return m;
  }

  private badPoints(): FuzzCase {
    const m = this.badObject(this.request('addPoints', this.t.ownSession));
    const { width: w, height: h } = this.t;
    const outside = [
      { x: -1, y: 1 },
      { x: w + 1, y: 1 },
      { x: 1, y: h + 0.5 },
      { x: 1e9, y: 1e9 },
      { x: -1e-6, y: 0 },
    ];
    if (this.chance(0.5)) {
      m.points = [this.point(), { ...this.pick(outside), label: 1 }];
      return this.text('bad-points', m, ['E_PROMPT_INVALID', ...PROMPT_STATE]);
    }
    m.points = this.pick([
      [],
      Array.from({ length: 65 }, () => this.point()),
      [{ x: '1', y: 2 }],
      [{ x: 1 }],
      [{ x: 1, y: 2, label: 2 }],
      [{ x: 1, y: 2, label: '1' }],
      [{ x: null, y: 1 }],
      [[1, 2]],
      [{}],
    ]);
    // 1e999 is JSON for Infinity: not finite.
    const text = this.chance(0.2) ? JSON.stringify({ ...m, points: [{ x: 0, y: 0 }] }).replace('"x":0', '"x":1e999') : JSON.stringify(m);
    return { kind: 'text', category: 'bad-points', text, allowed: [INVALID] };
  }

  private badBox(): FuzzCase {
    const m = this.badObject(this.request('addBox', this.t.ownSession));
    const [x0, y0, x1, y1] = this.box();
    if (this.chance(0.6)) {
      m.box = this.pick([
        [x1, y0, x0, y1],
        [x0, y1, x1, y0],
        [x0, y0, x0, y1],
        [x0, y0, x1, y0],
        [-50, -50, -10, -10],
        [x0, y0, this.t.width + 50, y1],
      ]);
      return this.text('bad-box', m, ['E_PROMPT_INVALID', ...PROMPT_STATE]);
    }
    m.box = this.pick([[x0, y0, x1], [x0, y0, x1, y1, 5], ['0', 0, 1, 1], [], null]);
    return this.text('bad-box', m, [INVALID]);
  }

  private badRle(): FuzzCase {
    const m = this.badObject(this.request('addMask', this.t.ownSession));
    const { width: w, height: h } = this.t;
    const good = this.rle();
    const variants: [unknown, Reply[]][] = [
      [{ size: [h + 1, w], counts: good.counts }, ['E_MASK_INVALID']],
      [{ size: [h, w - 1], counts: good.counts }, ['E_MASK_INVALID']],
      [{ size: [1e9, 1e9], counts: [1] }, ['E_MASK_INVALID']],
      [{ size: [h, w], counts: [...good.counts, 5] }, ['E_RLE_INVALID']],
      [{ size: [h, w], counts: good.counts.slice(0, 2) }, ['E_RLE_INVALID']],
      [{ size: [h, w], counts: [0, 1e15] }, ['E_RLE_INVALID']],
      [{ size: [h, w], counts: [] }, ['E_RLE_INVALID']],
      [{ size: [h, w], counts: [1, -1, 1] }, [INVALID]],
      [{ size: [h, w], counts: [1.5] }, [INVALID]],
      [{ size: [0, 0], counts: [] }, [INVALID]],
      [{ size: [h, w], counts: 'PPYo0' }, [INVALID]],
      [{ size: [h, w], counts: Array.from({ length: 5000 }, () => 1) }, ['E_RLE_INVALID']],
    ];
    const [rle, codes] = this.pick(variants);
    m.rle = rle;
    return this.text('bad-rle', m, codes[0] === INVALID ? codes : [...codes, ...PROMPT_STATE]);
  }

  private binary(): FuzzCase {
    const n = this.pick([0, 1, 4, 40, 41, 48, this.int(0, 4096)]);
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = this.int(0, 255);
    if (n > 0 && this.chance(0.5)) data[0] = this.pick([1, 2]); // looks like a mask / frame header
    return { kind: 'binary', category: 'binary', data, allowed: ['E_PROTOCOL_BINARY'] };
  }

  private deepNesting(): FuzzCase {
    const depth = this.pick([1000, 10_000, 100_000]);
    const m = this.request('ping', '');
    const open = this.chance(0.5) ? '['.repeat(depth) : '{"a":'.repeat(depth);
    const close = open.startsWith('[') ? ']'.repeat(depth) : '}'.repeat(depth);
    const where = this.int(0, 2);
    if (where === 0) {
      // In an ignored field: JSON must parse it (or refuse it), the message stays a ping.
      return { kind: 'text', category: 'deep-nesting', text: JSON.stringify(m).replace(/}$/, `,"deep":${open}1${close}}`), allowed: ['ack', 'E_PROTOCOL_JSON'] };
    }
    if (where === 1) {
      const p = this.request('addPoints', this.t.ownSession);
      return { kind: 'text', category: 'deep-nesting', text: JSON.stringify(p).replace(/"points":\[[^\]]*\]/, `"points":[${open}1${close}]`), allowed: [INVALID, 'E_PROTOCOL_JSON'] };
    }
    return { kind: 'text', category: 'deep-nesting', text: `${open}1${close}`, allowed: [INVALID, 'E_PROTOCOL_JSON'] };
  }

  private protoKeys(): FuzzCase {
    const m = this.request('ping', '');
    const body = JSON.stringify(m).slice(1, -1);
    const pick = this.int(0, 3);
    if (pick === 0) return { kind: 'text', category: 'proto-keys', text: `{"__proto__":{"polluted":"yes","type":"ping"},${body}}`, allowed: ['ack'] };
    if (pick === 1) return { kind: 'text', category: 'proto-keys', text: `{${body},"constructor":{"prototype":{"polluted":"yes"}}}`, allowed: ['ack'] };
    if (pick === 2) {
      // The fields only through __proto__: they must not be found there.
      const p = this.request('addPoints', this.t.ownSession);
      return { kind: 'text', category: 'proto-keys', text: JSON.stringify(p).replace(/"points":\[[^\]]*\]/, '"points":[{"__proto__":{"x":1,"y":1}}]'), allowed: [INVALID] };
    }
    return { kind: 'text', category: 'proto-keys', text: `{"__proto__":{"v":1,"seq":${this.nextSeq()},"type":"ping"}}`, allowed: [INVALID] };
  }

  private longStrings(): FuzzCase {
    const len = this.pick([65, 513, 10_000, 200_000]);
    const long = this.str(len);
    const which = this.int(0, 2);
    if (which === 0) return this.text('long-strings', this.request(this.pick(SESSION_TYPES), long), [INVALID]);
    if (which === 1) {
      const m = this.request('startSession', '');
      m.clip = long;
      // Up to 512 characters a clip id is plausible (and unknown); beyond, it is not a clip id.
      return this.text('long-strings', m, len <= 512 ? ['E_CLIP_UNKNOWN', 'E_SESSION_LIMIT'] : [INVALID]);
    }
    const m = this.request('ping', '');
    m.type = long;
    return this.text('long-strings', m, [INVALID]);
  }

  private badClip(): FuzzCase {
    const m = this.request('startSession', '');
    if (this.chance(0.2)) {
      m.live = true;
      delete m.clip;
      return this.text('bad-clip', m, ['E_LIVE_UNAVAILABLE', 'E_SESSION_LIMIT']);
    }
    if (this.chance(0.1)) {
      m.live = true; // and a clip: exactly one of them is allowed
      return this.text('bad-clip', m, [INVALID]);
    }
    m.clip = this.pick([
      '../../../../etc/passwd',
      '/etc/passwd',
      `${this.t.clip}/../../x`,
      `${this.t.clip}\u0000.mp4`,
      '%2e%2e%2f%2e%2e%2fetc',
      'C:\\Windows\\win.ini',
      `${this.t.clip}.mp4`,
      `${this.t.clip} `,
      '~/.ssh/id_rsa',
      'file:///etc/passwd',
      'http://127.0.0.1:1/x.mp4',
      '\u202e4pm.exe',
    ]);
    return this.text('bad-clip', m, ['E_CLIP_UNKNOWN', 'E_PATH_FORBIDDEN', 'E_SESSION_LIMIT']);
  }

  /** Valid messages at the wrong moment. */
  private wrongOrder(): FuzzCase {
    const k = this.int(0, 2);
    if (k === 0) return this.text('wrong-order', this.request('cancelPropagate', this.t.ownSession), ['ack']);
    if (k === 1) {
      const m = this.request('removeObject', this.t.ownSession);
      m.objectId = this.int(100, 200); // never prompted
      return this.text('wrong-order', m, ['E_OBJECT_UNKNOWN', ...BUSY]);
    }
    const m = this.request('closeSession', `closed-${this.str(6)}`);
    return this.text('wrong-order', m, ['E_SESSION_UNKNOWN']);
  }

  private tooLarge(): FuzzCase {
    const m = this.request('ping', '');
    return { kind: 'text', category: 'too-large', text: JSON.stringify({ ...m, pad: 'x'.repeat(TOO_LARGE_TEXT_BYTES) }), allowed: ['E_MESSAGE_TOO_LARGE'] };
  }

  /** Valid requests, within the work budget. */
  private valid(): FuzzCase {
    const b = this.budget;
    const x = this.r();
    if (x < 0.5) {
      if (b.prompts <= 0) return this.ping('valid');
      b.prompts--;
      const type = this.pick(['addPoints', 'addPoints', 'addBox'] as const);
      return this.text('valid', this.request(type, this.t.ownSession), ['ack', ...PROMPT_STATE]);
    }
    if (x < 0.6 && b.masks > 0) {
      b.masks--;
      return this.text('valid', this.request('addMask', this.t.ownSession), ['ack', ...PROMPT_STATE]);
    }
    if (x < 0.7 && b.propagates > 0) {
      b.propagates--;
      return this.text('valid', this.request('propagate', this.t.ownSession), ['ack', 'E_TRACKER_STATE', ...BUSY]);
    }
    if (x < 0.75 && b.removes > 0) {
      b.removes--;
      return this.text('valid', this.request('removeObject', this.t.ownSession), ['ack', 'E_OBJECT_UNKNOWN', ...BUSY]);
    }
    if (x < 0.8 && b.starts > 0) {
      b.starts--;
      return this.text('valid', this.request('startSession', ''), ['sessionStarted', 'E_SESSION_LIMIT']);
    }
    return this.ping('valid');
  }
}
