/**
 * Reads and validates a model bundle (models/BUNDLE.md, format version 1) before any frame is
 * touched: a bad bundle must fail fast with a coded error, not halfway through a clip.
 *
 * This file checks the manifest against the contract (names, symbolic vs fixed dimensions,
 * constants). Checking the real ONNX graphs against the manifest needs sessions and lives in
 * ort-sessions.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';

/** Graph keys, in the order the manifest lists them. */
export const GRAPH_KEYS = ['imageEncoder', 'memoryAttention', 'maskDecoder', 'memoryEncoder'] as const;
export type GraphKey = (typeof GRAPH_KEYS)[number];

export type Dim = number | string;

export interface IoSpec {
  name: string;
  dtype: 'float32' | 'float16' | 'int64';
  shape: Dim[];
}

export interface GraphSpec {
  file: string;
  inputs: IoSpec[];
  outputs: IoSpec[];
}

/** The video-predictor settings the TypeScript tracker applies (manifest `memory`). */
export interface MemorySettings {
  numMaskmem: number;
  maxObjPtrsInEncoder: number;
  memoryTemporalStrideForEval: number;
  maxCondFramesInAttn: number;
  onlyObjPtrsInThePastForEval: boolean;
  useSignedTposEncToObjPtrs: boolean;
  addTposEncToObjPtrs: boolean;
  directlyAddNoMemEmbed: boolean;
  multimaskOutputInSam: boolean;
  multimaskOutputForTracking: boolean;
  multimaskMinPtNum: number;
  multimaskMaxPtNum: number;
  dynamicMultimaskViaStability: boolean;
  dynamicMultimaskStabilityDelta: number;
  dynamicMultimaskStabilityThresh: number;
  binarizeMaskFromPtsForMemEnc: boolean;
  sigmoidScaleForMemEnc: number;
  sigmoidBiasForMemEnc: number;
  useMaskInputAsOutputWithoutSam: boolean;
  fillHoleArea: number;
  predObjScores: boolean;
  softNoObjPtr: boolean;
  fixedNoObjPtr: boolean;
}

export interface BundleConstants {
  noMemEmbed: Float32Array;
  noObjPtr: Float32Array;
  maskDownsample: { weight: Float32Array; bias: number };
}

/** A validated bundle: manifest facts plus absolute graph paths. */
export interface Bundle {
  dir: string;
  name: string;
  architecture: 'sam2' | 'sam2.1';
  config: string;
  precision: 'fp32' | 'fp16';
  imageSize: number;
  pixelMean: [number, number, number];
  pixelStd: [number, number, number];
  hiddenDim: number;
  memDim: number;
  featureSize: number;
  lowResMaskSize: number;
  memory: MemorySettings;
  constants: BundleConstants;
  graphs: Record<GraphKey, GraphSpec & { path: string }>;
  /** The raw manifest (training/source blocks etc.), for logs. */
  raw: Record<string, unknown>;
}

/**
 * The contract's I/O table (BUNDLE.md). Symbols: S image size, C hidden, Cm memory dim, h feature
 * size; `C/8` etc. are evaluated; names in SYMBOLIC must stay symbolic (dynamic axes).
 */
const CONTRACT: Record<GraphKey, { inputs: [string, string, string[]][]; outputs: [string, string, string[]][] }> = {
  imageEncoder: {
    inputs: [['image', 'float', ['1', '3', 'S', 'S']]],
    outputs: [
      ['vision_feat', 'float', ['1', 'C', 'h', 'h']],
      ['high_res_feat0', 'float', ['1', 'C/8', '4h', '4h']],
      ['high_res_feat1', 'float', ['1', 'C/4', '2h', '2h']],
    ],
  },
  memoryAttention: {
    inputs: [
      ['vision_feat', 'float', ['1', 'C', 'h', 'h']],
      ['memory', 'float', ['B', 'Nm', 'Cm', 'h', 'h']],
      ['memory_tpos', 'int64', ['Nm']],
      ['obj_ptrs', 'float', ['B', 'Np', 'C']],
      ['obj_ptr_tpos', 'float', ['Np']],
    ],
    outputs: [['conditioned_feat', 'float', ['B', 'C', 'h', 'h']]],
  },
  maskDecoder: {
    inputs: [
      ['image_embed', 'float', ['B', 'C', 'h', 'h']],
      ['high_res_feat0', 'float', ['1', 'C/8', '4h', '4h']],
      ['high_res_feat1', 'float', ['1', 'C/4', '2h', '2h']],
      ['point_coords', 'float', ['B', 'N', '2']],
      ['point_labels', 'float', ['B', 'N']],
      ['mask_input', 'float', ['B', '1', '4h', '4h']],
      ['has_mask_input', 'float', ['B']],
    ],
    outputs: [
      ['low_res_masks', 'float', ['B', '4', '4h', '4h']],
      ['iou_scores', 'float', ['B', '4']],
      ['obj_ptrs', 'float', ['B', '4', 'C']],
      ['object_score_logits', 'float', ['B', '1']],
    ],
  },
  memoryEncoder: {
    inputs: [
      ['vision_feat', 'float', ['1', 'C', 'h', 'h']],
      ['mask_for_mem', 'float', ['B', '1', 'S', 'S']],
      ['object_score_logits', 'float', ['B', '1']],
    ],
    outputs: [['maskmem_features', 'float', ['B', 'Cm', 'h', 'h']]],
  },
};

const SYMBOLIC = new Set(['B', 'Nm', 'Np', 'N']);

/** Real manifests are kB (constants included); anything far larger is not one, and is not read. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/**
 * Largest image size a manifest may declare. SAM2 uses 1024, MedSAM2 512; per-frame buffers grow
 * with its square (S = 65536 would ask for 51 GB per frame), so a bigger claim is refused at load.
 */
export const MAX_IMAGE_SIZE = 4096;

/** Expected I/O of one graph with numbers filled in (symbolic axes stay strings). */
export function contractFor(
  key: GraphKey,
  dims: { imageSize: number; hiddenDim: number; memDim: number; featureSize: number },
  precision: 'fp32' | 'fp16' = 'fp32',
): { inputs: IoSpec[]; outputs: IoSpec[] } {
  const h = dims.featureSize;
  const value = (sym: string): Dim => {
    if (SYMBOLIC.has(sym)) return sym;
    switch (sym) {
      case 'S':
        return dims.imageSize;
      case 'C':
        return dims.hiddenDim;
      case 'C/8':
        return dims.hiddenDim / 8;
      case 'C/4':
        return dims.hiddenDim / 4;
      case 'Cm':
        return dims.memDim;
      case 'h':
        return h;
      case '2h':
        return 2 * h;
      case '4h':
        return 4 * h;
      default:
        return Number(sym);
    }
  };
  const floatType = precision === 'fp16' ? 'float16' : 'float32';
  const map = (rows: [string, string, string[]][]): IoSpec[] =>
    rows.map(([name, t, shape]) => ({
      name,
      dtype: t === 'int64' ? 'int64' : floatType,
      shape: shape.map(value),
    }));
  return { inputs: map(CONTRACT[key].inputs), outputs: map(CONTRACT[key].outputs) };
}

function manifestError(dir: string, message: string, details?: Record<string, unknown>): CinesegError {
  return new CinesegError(ErrorCode.E_BUNDLE_MANIFEST, `${join(dir, 'manifest.json')}: ${message}`, {
    details: { dir, ...details },
  });
}

function num(dir: string, obj: Record<string, unknown>, key: string, where = ''): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw manifestError(dir, `${where}${key} must be a number`);
  return v;
}

function bool(dir: string, obj: Record<string, unknown>, key: string, where = ''): boolean {
  const v = obj[key];
  if (typeof v !== 'boolean') throw manifestError(dir, `${where}${key} must be true or false`);
  return v;
}

function floats(dir: string, v: unknown, len: number, what: string): Float32Array {
  if (!Array.isArray(v) || v.length !== len || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw manifestError(dir, `${what} must be an array of ${len} numbers`);
  }
  return Float32Array.from(v as number[]);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const MEMORY_NUMBERS = [
  'numMaskmem',
  'maxObjPtrsInEncoder',
  'memoryTemporalStrideForEval',
  'maxCondFramesInAttn',
  'multimaskMinPtNum',
  'multimaskMaxPtNum',
  'dynamicMultimaskStabilityDelta',
  'dynamicMultimaskStabilityThresh',
  'sigmoidScaleForMemEnc',
  'sigmoidBiasForMemEnc',
  'fillHoleArea',
] as const;
const MEMORY_BOOLS = [
  'onlyObjPtrsInThePastForEval',
  'useSignedTposEncToObjPtrs',
  'addTposEncToObjPtrs',
  'directlyAddNoMemEmbed',
  'multimaskOutputInSam',
  'multimaskOutputForTracking',
  'dynamicMultimaskViaStability',
  'binarizeMaskFromPtsForMemEnc',
  'useMaskInputAsOutputWithoutSam',
  'predObjScores',
  'softNoObjPtr',
  'fixedNoObjPtr',
] as const;

function parseIo(dir: string, v: unknown, where: string): IoSpec[] {
  if (!Array.isArray(v)) throw manifestError(dir, `${where} must be an array`);
  return v.map((e, i) => {
    if (!isRecord(e) || typeof e.name !== 'string' || !Array.isArray(e.shape)) {
      throw manifestError(dir, `${where}[${i}] must be {name, dtype, shape}`);
    }
    if (e.dtype !== 'float32' && e.dtype !== 'float16' && e.dtype !== 'int64') {
      throw manifestError(dir, `${where}[${i}] (${e.name}) has unknown dtype ${String(e.dtype)}`);
    }
    const shape = e.shape.map((d) => {
      if (typeof d === 'number' && Number.isInteger(d) && d >= 0) return d;
      if (typeof d === 'string' && d.length > 0) return d;
      throw manifestError(dir, `${where}[${i}] (${e.name}) has a bad dimension ${JSON.stringify(d)}`);
    });
    return { name: e.name, dtype: e.dtype, shape };
  });
}

/** Compares a manifest I/O list with the contract; returns the first difference or undefined. */
export function diffIo(actual: IoSpec[], expected: IoSpec[], where: string): string | undefined {
  const byName = new Map(actual.map((a) => [a.name, a]));
  for (const e of expected) {
    const a = byName.get(e.name);
    if (!a) return `${where}: missing ${e.name} (has ${actual.map((x) => x.name).join(', ') || 'nothing'})`;
    if (a.dtype !== e.dtype) return `${where}: ${e.name} is ${a.dtype}, expected ${e.dtype}`;
    if (a.shape.length !== e.shape.length) {
      return `${where}: ${e.name} has rank ${a.shape.length}, expected ${e.shape.length} (${e.shape.join('x')})`;
    }
    for (let i = 0; i < e.shape.length; i++) {
      const ed = e.shape[i]!;
      const ad = a.shape[i]!;
      if (typeof ed === 'number' && ad !== ed) {
        return `${where}: ${e.name} dimension ${i} is ${String(ad)}, expected ${ed}`;
      }
      if (typeof ed === 'string' && typeof ad === 'number') {
        return `${where}: ${e.name} dimension ${i} is fixed at ${ad}, must be dynamic (${ed})`;
      }
    }
  }
  if (actual.length !== expected.length) {
    const extra = actual.filter((a) => !expected.some((e) => e.name === a.name)).map((a) => a.name);
    return `${where}: unexpected ${extra.join(', ')}`;
  }
  return undefined;
}

/**
 * Loads `<dir>/manifest.json` and checks it against the bundle contract. Graph files must exist;
 * their contents are checked later by `createModelSessions`.
 *
 * @throws CinesegError E_BUNDLE_NOT_FOUND, E_BUNDLE_MANIFEST, E_BUNDLE_VERSION, E_BUNDLE_GRAPH_MISSING
 */
export function loadBundle(dirIn: string): Bundle {
  const dir = resolve(dirIn);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CinesegError(ErrorCode.E_BUNDLE_NOT_FOUND, `model bundle folder not found: ${dir}`, { details: { dir } });
  }
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new CinesegError(ErrorCode.E_BUNDLE_NOT_FOUND, `${dir} is not a model bundle (no manifest.json)`, {
      details: { dir },
    });
  }
  // stat follows links: a manifest linked to /dev/zero or a huge file is refused before reading.
  const mst = statSync(manifestPath);
  if (!mst.isFile() || mst.size > MAX_MANIFEST_BYTES) {
    throw manifestError(dir, mst.isFile() ? `is ${mst.size} bytes; a manifest is at most ${MAX_MANIFEST_BYTES}` : 'is not a regular file');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_BUNDLE_MANIFEST, `${manifestPath}: not valid JSON (${(cause as Error).message})`, {
      cause,
      details: { dir },
    });
  }
  if (!isRecord(raw)) throw manifestError(dir, 'must be a JSON object');
  if (raw.format !== 'cineseg-bundle') throw manifestError(dir, `format must be "cineseg-bundle", got ${JSON.stringify(raw.format)}`);
  if (raw.formatVersion !== 1) {
    throw new CinesegError(ErrorCode.E_BUNDLE_VERSION, `${manifestPath}: formatVersion ${JSON.stringify(raw.formatVersion)} is not supported (this engine reads version 1)`, {
      details: { dir, formatVersion: raw.formatVersion },
    });
  }
  const architecture = raw.architecture;
  if (architecture !== 'sam2' && architecture !== 'sam2.1') throw manifestError(dir, 'architecture must be "sam2" or "sam2.1"');
  const precision = raw.precision;
  if (precision !== 'fp32' && precision !== 'fp16') throw manifestError(dir, 'precision must be "fp32" or "fp16"');
  const imageSize = num(dir, raw, 'imageSize');
  const hiddenDim = num(dir, raw, 'hiddenDim');
  const memDim = num(dir, raw, 'memDim');
  const featureSize = num(dir, raw, 'featureSize');
  const lowResMaskSize = num(dir, raw, 'lowResMaskSize');
  if (!Number.isInteger(imageSize) || imageSize <= 0 || imageSize % 16 !== 0 || imageSize > MAX_IMAGE_SIZE) {
    throw manifestError(dir, `imageSize must be a positive multiple of 16 up to ${MAX_IMAGE_SIZE}, got ${imageSize}`);
  }
  if (featureSize !== imageSize / 16) throw manifestError(dir, `featureSize ${featureSize} must be imageSize/16 = ${imageSize / 16}`);
  if (lowResMaskSize !== 4 * featureSize) throw manifestError(dir, `lowResMaskSize ${lowResMaskSize} must be 4 x featureSize = ${4 * featureSize}`);
  if (!Number.isInteger(hiddenDim) || hiddenDim <= 0 || hiddenDim % 8 !== 0) throw manifestError(dir, `hiddenDim must be a positive multiple of 8`);
  if (!Number.isInteger(memDim) || memDim <= 0 || hiddenDim % memDim !== 0) throw manifestError(dir, `memDim must divide hiddenDim`);
  const mean = floats(dir, raw.pixelMean, 3, 'pixelMean');
  const std = floats(dir, raw.pixelStd, 3, 'pixelStd');
  if (std.some((s) => s <= 0)) throw manifestError(dir, 'pixelStd must be positive');

  if (!isRecord(raw.memory)) throw manifestError(dir, 'memory block missing');
  const memRaw = raw.memory;
  const memory = {} as Record<string, number | boolean>;
  for (const k of MEMORY_NUMBERS) memory[k] = num(dir, memRaw, k, 'memory.');
  for (const k of MEMORY_BOOLS) memory[k] = bool(dir, memRaw, k, 'memory.');
  const mem = memory as unknown as MemorySettings;
  if (!Number.isInteger(mem.numMaskmem) || mem.numMaskmem < 1) throw manifestError(dir, 'memory.numMaskmem must be >= 1');
  if (!Number.isInteger(mem.maxObjPtrsInEncoder) || mem.maxObjPtrsInEncoder < 1) throw manifestError(dir, 'memory.maxObjPtrsInEncoder must be >= 1');
  if (!Number.isInteger(mem.memoryTemporalStrideForEval) || mem.memoryTemporalStrideForEval < 1) {
    throw manifestError(dir, 'memory.memoryTemporalStrideForEval must be >= 1');
  }
  if (!mem.predObjScores) throw manifestError(dir, 'memory.predObjScores false is not supported (the decoder contract has an object score)');

  if (!isRecord(raw.constants)) throw manifestError(dir, 'constants block missing');
  const c = raw.constants;
  if (!isRecord(c.maskDownsample)) throw manifestError(dir, 'constants.maskDownsample must be {weight, bias}');
  const bias = c.maskDownsample.bias;
  if (typeof bias !== 'number') throw manifestError(dir, 'constants.maskDownsample.bias must be a number');
  const constants: BundleConstants = {
    noMemEmbed: floats(dir, c.noMemEmbed, hiddenDim, 'constants.noMemEmbed'),
    noObjPtr: floats(dir, c.noObjPtr, hiddenDim, 'constants.noObjPtr'),
    maskDownsample: { weight: floats(dir, c.maskDownsample.weight, 16, 'constants.maskDownsample.weight'), bias },
  };

  if (!isRecord(raw.graphs)) throw manifestError(dir, 'graphs block missing');
  const graphs = {} as Bundle['graphs'];
  const dims = { imageSize, hiddenDim, memDim, featureSize };
  for (const key of GRAPH_KEYS) {
    const g = raw.graphs[key];
    if (!isRecord(g) || typeof g.file !== 'string') throw manifestError(dir, `graphs.${key} must be {file, inputs, outputs}`);
    const inputs = parseIo(dir, g.inputs, `graphs.${key}.inputs`);
    const outputs = parseIo(dir, g.outputs, `graphs.${key}.outputs`);
    const expected = contractFor(key, dims, precision);
    const diff = diffIo(inputs, expected.inputs, `graphs.${key}.inputs`) ?? diffIo(outputs, expected.outputs, `graphs.${key}.outputs`);
    if (diff) throw manifestError(dir, diff, { graph: key });
    // Graph names are relative to the bundle and stay inside it (links inside may point anywhere,
    // as a model cache's do); a manifest must not make the engine load files it chose.
    const rel = normalize(g.file);
    if (g.file === '' || isAbsolute(g.file) || rel === '..' || rel.startsWith(`..${sep}`) || g.file.includes('\0')) {
      throw manifestError(dir, `graphs.${key}.file must be a file name inside the bundle, got ${JSON.stringify(g.file)}`, { graph: key });
    }
    const path = resolve(dir, rel);
    let st;
    try {
      st = statSync(path);
    } catch {
      st = null;
    }
    if (!st?.isFile()) {
      throw new CinesegError(ErrorCode.E_BUNDLE_GRAPH_MISSING, `bundle graph ${key} file ${st ? 'is not a regular file' : 'missing'}: ${path}`, {
        details: { dir, graph: key, path },
      });
    }
    graphs[key] = { file: g.file, inputs, outputs, path };
  }

  return {
    dir,
    name: typeof raw.name === 'string' ? raw.name : 'unnamed',
    architecture,
    config: typeof raw.config === 'string' ? raw.config : '',
    precision,
    imageSize,
    pixelMean: [mean[0]!, mean[1]!, mean[2]!],
    pixelStd: [std[0]!, std[1]!, std[2]!],
    hiddenDim,
    memDim,
    featureSize,
    lowResMaskSize,
    memory: mem,
    constants,
    graphs,
    raw,
  };
}

// Where the shipped bundle lies is the repository's layout, which only paths.ts knows; re-exported
// here for the bundle's callers.
export { defaultBundleDir } from '../paths.js';
