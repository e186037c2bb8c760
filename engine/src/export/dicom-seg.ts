/**
 * DICOM Segmentation export (Segmentation Storage, BINARY, written with dcmjs): one segment per
 * object (segment number = label value, label-map.ts order), one frame per object per clip frame
 * where the object has pixels, 1-bit packed pixel data (frames continue bit for bit, as PS3.5
 * 8.1.1 packs them). Dimensions: ReferencedSegmentNumber, then TemporalPositionIndex (= clip frame
 * + 1), so a viewer can order the frames of a cine.
 *
 * When the source is a DICOM file, the SEG joins its study (Study Instance UID and the patient and
 * study attributes copied from it, as the IOD requires), shares its Frame of Reference UID, and
 * references the source instance per frame (Derivation Image / Source Image Sequence with the
 * source frame number) and in the Referenced Series Sequence. Otherwise it starts a new study.
 * Patient attributes are copied into the file only; nothing from them is logged.
 *
 * When the masks were tracked on a DICOM CT/MR series (a volume input, source/volume-slices.ts,
 * in any plane), the labels are put back in the series' voxel grid and the SEG has one frame per
 * segment per source slice with pixels, at that slice's size: each frame references its slice's
 * SOP Instance UID and carries its Image Position (Patient); the dimensions are segment, then
 * Image Position (Patient); orientation, pixel spacing and slice spacing are the series'; the
 * Referenced Series Sequence lists every instance of the series.
 */
import { readFile } from 'node:fs/promises';
import dcmjs, { type NaturalDataset } from 'dcmjs';
import { CinesegError, ErrorCode } from '../errors.js';
import type { VisJson } from '../mask/vis-json.js';
import { objectFrame, planLabels, type LabelEntry } from './label-map.js';
import { writeOutput } from './output.js';
import { openVolumeInput, slicesToVoxels, type VolumeClip } from '../source/volume-slices.js';
import type { DicomSeriesRefs } from '../source/volume.js';

const { DicomMetaDictionary, DicomDict, DicomMessage } = dcmjs.data;

export const SEGMENTATION_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.66.4';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
/** 2.25 root (UUID-derived UIDs, PS3.5 B.2) identifies cineseg as the implementation. */
const IMPLEMENTATION_CLASS_UID = '2.25.141592653589793238462643383279502884';
const TAG_REFERENCED_SEGMENT_NUMBER = 0x0062000b;
const TAG_SEGMENT_IDENTIFICATION_SEQUENCE = 0x0062000a;
const TAG_TEMPORAL_POSITION_INDEX = 0x00209128;
const TAG_FRAME_CONTENT_SEQUENCE = 0x00209111;
const TAG_IMAGE_POSITION_PATIENT = 0x00200032;
const TAG_PLANE_POSITION_SEQUENCE = 0x00209113;

export interface DicomSegOptions {
  /** The DICOM file the masks were made on; its UIDs are referenced. */
  sourceDicom?: string;
  /** Series description (default "cineseg segmentation"). */
  seriesDescription?: string;
  /** Algorithm name written in each segment (default "cineseg"). */
  algorithmName?: string;
}

export interface DicomSegResult {
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  frameOfReferenceUid: string;
  /** Frames in the SEG (object x clip frame with pixels). */
  frames: number;
  segments: LabelEntry[];
  /** Whether the source instance is referenced. */
  referencesSource: boolean;
}

/** What the SEG needs from its source, read without the pixel data. */
interface SourceRefs {
  ds: NaturalDataset;
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  frameOfReferenceUid?: string;
  rows: number;
  columns: number;
  frames: number;
  pixelSpacing?: [number, number];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

async function readSource(path: string): Promise<SourceRefs> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `source DICOM not found: ${path}`, { cause });
  }
  let ds: NaturalDataset;
  try {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    ds = DicomMetaDictionary.naturalizeDataset(DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false }).dict);
  } catch (cause) {
    // The parser's message can quote element values; keep it out of ours.
    throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${path} is not a readable DICOM file`, { cause });
  }
  const need = (k: string): string => {
    const v = str(ds[k]);
    if (!v) throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${path}: source DICOM has no ${k}`);
    return v;
  };
  const ps = ds.PixelSpacing;
  return {
    ds,
    sopClassUid: need('SOPClassUID'),
    sopInstanceUid: need('SOPInstanceUID'),
    seriesInstanceUid: need('SeriesInstanceUID'),
    studyInstanceUid: need('StudyInstanceUID'),
    ...(str(ds.FrameOfReferenceUID) ? { frameOfReferenceUid: str(ds.FrameOfReferenceUID)! } : {}),
    rows: Number(ds.Rows),
    columns: Number(ds.Columns),
    frames: Number(ds.NumberOfFrames ?? 1),
    ...(Array.isArray(ps) && ps.length === 2 ? { pixelSpacing: [Number(ps[0]), Number(ps[1])] as [number, number] } : {}),
  };
}

/** Packs 0/1 bytes bit-continuously (LSB first) into `out` starting at bit `bitOffset`. */
function packBits(mask: Uint8Array, out: Uint8Array, bitOffset: number): void {
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      const b = bitOffset + i;
      out[b >> 3]! |= 1 << (b & 7);
    }
  }
}

const code = (value: string, scheme: string, meaning: string) => ({ CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning });

/** The DICOM series a VIS result was tracked on, when its `file` names one whose plane fits the masks. */
function sourceSeries(video: VisJson['videos'][number]): (VolumeClip & { series: DicomSeriesRefs }) | null {
  let clip: VolumeClip | null = null;
  try {
    clip = openVolumeInput(video.file);
  } catch {
    return null;
  }
  const v = clip?.view;
  if (!clip?.volume.dicom || v!.width !== video.width || v!.height !== video.height || v!.depth !== video.length) return null;
  return { ...clip, series: clip.volume.dicom };
}

/** SEG frames of a series source: per segment, the source slices k with pixels (voxel grid). */
function seriesFrames(plan: ReturnType<typeof planLabels>, clip: VolumeClip, series: DicomSeriesRefs) {
  const [nx, ny, nz] = clip.volume.dims;
  const plane = nx * ny;
  const scratch = new Uint8Array(plan.video.width * plan.video.height);
  const perSegment = plan.annotations.map((a) =>
    slicesToVoxels(
      clip.view,
      (k) => new Uint8Array(k),
      (t, m) => {
        const f = objectFrame(a, t, scratch);
        if (f) m.set(f);
      },
    ),
  );
  const frames: { segment: number; k: number }[] = [];
  perSegment.forEach((vox, i) => {
    for (let k = 0; k < nz; k++) if (vox.subarray(k * plane, (k + 1) * plane).some((x) => x !== 0)) frames.push({ segment: i + 1, k });
  });
  if (frames.length === 0 && perSegment.length > 0) frames.push({ segment: 1, k: 0 });
  const pixel = new Uint8Array(Math.ceil((frames.length * plane) / 8 / 2) * 2);
  frames.forEach((f, n) => packBits(perSegment[f.segment - 1]!.subarray(f.k * plane, (f.k + 1) * plane), pixel, n * plane));
  const perFrame = frames.map((f) => ({
    DerivationImageSequence: [
      {
        DerivationCodeSequence: [code('113076', 'DCM', 'Segmentation')],
        SourceImageSequence: [
          {
            ReferencedSOPClassUID: series.sopClassUid,
            ReferencedSOPInstanceUID: series.instances[f.k]!.sopInstanceUid,
            PurposeOfReferenceCodeSequence: [code('121322', 'DCM', 'Source image for image processing operation')],
          },
        ],
      },
    ],
    FrameContentSequence: [{ DimensionIndexValues: [f.segment, f.k + 1] }],
    PlanePositionSequence: [{ ImagePositionPatient: series.instances[f.k]!.position }],
    SegmentIdentificationSequence: [{ ReferencedSegmentNumber: f.segment }],
  }));
  return { rows: ny, columns: nx, count: frames.length, pixel, perFrame };
}

/** Builds the SEG dataset and writes it to `out`. */
export async function exportDicomSeg(vis: VisJson, out: string, opts: DicomSegOptions = {}): Promise<DicomSegResult> {
  const plan = planLabels(vis);
  const { width, height, length } = plan.video;
  const volume = opts.sourceDicom ? null : sourceSeries(plan.video);
  if (volume) return writeSeg(plan, out, opts, await readSource(volume.series.firstFile), seriesFrames(plan, volume, volume.series), volume.series);
  const src = opts.sourceDicom ? await readSource(opts.sourceDicom) : null;
  if (src && (src.rows !== height || src.columns !== width)) {
    throw new CinesegError(ErrorCode.E_MASK_INVALID, `masks are ${width}x${height}, the source DICOM is ${src.columns}x${src.rows}`);
  }
  if (src && src.frames < length) {
    throw new CinesegError(ErrorCode.E_MASK_INVALID, `masks cover ${length} frames, the source DICOM has ${src.frames}`);
  }

  // Which (segment, frame) pairs carry pixels, in dimension order: segment, then time.
  const plane = width * height;
  const scratch = new Uint8Array(plane);
  const frames: { segment: number; t: number }[] = [];
  for (const [i, a] of plan.annotations.entries()) {
    for (let t = 0; t < length; t++) {
      const m = objectFrame(a, t, scratch);
      if (m && m.some((v) => v !== 0)) frames.push({ segment: i + 1, t });
    }
  }
  // An empty SEG is not valid (Number of Frames >= 1): keep one empty frame of the first segment.
  if (frames.length === 0 && plan.annotations.length > 0) frames.push({ segment: 1, t: 0 });
  if (plan.annotations.length === 0) throw new CinesegError(ErrorCode.E_MASK_INVALID, 'nothing to export: no objects');
  const pixel = new Uint8Array(Math.ceil((frames.length * plane) / 8 / 2) * 2);
  frames.forEach((f, k) => {
    const m = objectFrame(plan.annotations[f.segment - 1]!, f.t, scratch);
    if (m) packBits(m, pixel, k * plane);
  });
  const perFrame = frames.map((f) => ({
    ...(src
      ? {
          DerivationImageSequence: [
            {
              DerivationCodeSequence: [code('113076', 'DCM', 'Segmentation')],
              SourceImageSequence: [
                {
                  ReferencedSOPClassUID: src.sopClassUid,
                  ReferencedSOPInstanceUID: src.sopInstanceUid,
                  ReferencedFrameNumber: f.t + 1,
                  PurposeOfReferenceCodeSequence: [code('121322', 'DCM', 'Source image for image processing operation')],
                },
              ],
            },
          ],
        }
      : {}),
    FrameContentSequence: [{ DimensionIndexValues: [f.segment, f.t + 1], TemporalPositionIndex: f.t + 1 }],
    PlanePositionSequence: [{ ImagePositionPatient: [0, 0, f.t] }],
    SegmentIdentificationSequence: [{ ReferencedSegmentNumber: f.segment }],
  }));
  return writeSeg(plan, out, opts, src, { rows: height, columns: width, count: frames.length, pixel, perFrame }, null);
}

/** The SEG's frames, made for a cine or for a series (see the module comment). */
interface SegFrames {
  rows: number;
  columns: number;
  count: number;
  pixel: Uint8Array;
  perFrame: NaturalDataset[];
}

async function writeSeg(plan: ReturnType<typeof planLabels>, out: string, opts: DicomSegOptions, src: SourceRefs | null, f: SegFrames, series: DicomSeriesRefs | null): Promise<DicomSegResult> {
  if (plan.annotations.length === 0) throw new CinesegError(ErrorCode.E_MASK_INVALID, 'nothing to export: no objects');
  const { rows, columns, pixel, perFrame } = f;
  const date = DicomMetaDictionary.date();
  const time = DicomMetaDictionary.time();
  const sopInstanceUid = DicomMetaDictionary.uid();
  const seriesInstanceUid = DicomMetaDictionary.uid();
  const studyInstanceUid = src?.studyInstanceUid ?? DicomMetaDictionary.uid();
  const frameOfReferenceUid = src?.frameOfReferenceUid ?? DicomMetaDictionary.uid();
  const dimensionOrganizationUid = DicomMetaDictionary.uid();
  const sds = src?.ds ?? {};
  const copy = (k: string, fallback: unknown = '') => (sds[k] === undefined ? fallback : sds[k]);
  const [rowSpacing, colSpacing] = series?.pixelSpacing ?? src?.pixelSpacing ?? [1, 1];
  // A series' frames are placed by Image Position (Patient); a cine's by time.
  const second = series
    ? { DimensionIndexPointer: TAG_IMAGE_POSITION_PATIENT, FunctionalGroupPointer: TAG_PLANE_POSITION_SEQUENCE, DimensionDescriptionLabel: 'ImagePositionPatient' }
    : { DimensionIndexPointer: TAG_TEMPORAL_POSITION_INDEX, FunctionalGroupPointer: TAG_FRAME_CONTENT_SEQUENCE, DimensionDescriptionLabel: 'Frame' };

  const segments = plan.labels.map((l) => ({
    SegmentNumber: l.value,
    SegmentLabel: `object ${l.objectId}`.slice(0, 64),
    SegmentDescription: l.name.slice(0, 64),
    SegmentAlgorithmType: 'SEMIAUTOMATIC',
    SegmentAlgorithmName: opts.algorithmName ?? 'cineseg',
    SegmentedPropertyCategoryCodeSequence: [code('91723000', 'SCT', 'Anatomical Structure')],
    SegmentedPropertyTypeCodeSequence: [code('85756007', 'SCT', 'Tissue')],
    RecommendedDisplayCIELabValue: [Math.round(65535 * 0.6), 32896 + ((l.value * 9973) % 20000), 32896 - ((l.value * 7919) % 20000)],
  }));

  const ds: NaturalDataset = {
    SpecificCharacterSet: copy('SpecificCharacterSet', 'ISO_IR 192'),
    ImageType: ['DERIVED', 'PRIMARY'],
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    SOPClassUID: SEGMENTATION_SOP_CLASS,
    SOPInstanceUID: sopInstanceUid,
    StudyDate: copy('StudyDate', date),
    SeriesDate: date,
    ContentDate: date,
    StudyTime: copy('StudyTime', time),
    SeriesTime: time,
    ContentTime: time,
    AccessionNumber: copy('AccessionNumber'),
    Modality: 'SEG',
    Manufacturer: 'cineseg',
    ReferringPhysicianName: copy('ReferringPhysicianName'),
    SeriesDescription: opts.seriesDescription ?? 'cineseg segmentation',
    ManufacturerModelName: 'cineseg',
    PatientName: copy('PatientName'),
    PatientID: copy('PatientID'),
    PatientBirthDate: copy('PatientBirthDate'),
    PatientSex: copy('PatientSex'),
    DeviceSerialNumber: '1',
    SoftwareVersions: '0.1.0',
    StudyInstanceUID: studyInstanceUid,
    SeriesInstanceUID: seriesInstanceUid,
    StudyID: copy('StudyID', src ? '' : '1'),
    SeriesNumber: 300,
    InstanceNumber: 1,
    FrameOfReferenceUID: frameOfReferenceUid,
    PositionReferenceIndicator: copy('PositionReferenceIndicator'),
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUid }],
    DimensionOrganizationType: series ? '3D' : '3D_TEMPORAL',
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionOrganizationUid,
        DimensionIndexPointer: TAG_REFERENCED_SEGMENT_NUMBER,
        FunctionalGroupPointer: TAG_SEGMENT_IDENTIFICATION_SEQUENCE,
        DimensionDescriptionLabel: 'Segment',
      },
      { DimensionOrganizationUID: dimensionOrganizationUid, ...second },
    ],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    NumberOfFrames: f.count,
    Rows: rows,
    Columns: columns,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    ContentLabel: 'CINESEG',
    ContentDescription: 'cineseg tracked masks',
    ContentCreatorName: 'cineseg^',
    SegmentationType: 'BINARY',
    SegmentSequence: segments,
    SharedFunctionalGroupsSequence: [
      {
        PixelMeasuresSequence: [{ PixelSpacing: [rowSpacing, colSpacing], SliceThickness: Math.abs(series?.sliceSpacing ?? 1), SpacingBetweenSlices: Math.abs(series?.sliceSpacing ?? 1) }],
        PlaneOrientationSequence: [{ ImageOrientationPatient: series?.orientation ?? [1, 0, 0, 0, 1, 0] }],
      },
    ],
    PerFrameFunctionalGroupsSequence: perFrame,
    ...(series
      ? {
          ReferencedSeriesSequence: [
            {
              SeriesInstanceUID: series.seriesInstanceUid,
              ReferencedInstanceSequence: series.instances.map((i) => ({ ReferencedSOPClassUID: series.sopClassUid, ReferencedSOPInstanceUID: i.sopInstanceUid })),
            },
          ],
        }
      : src
        ? {
            ReferencedSeriesSequence: [
              {
                SeriesInstanceUID: src.seriesInstanceUid,
                ReferencedInstanceSequence: [{ ReferencedSOPClassUID: src.sopClassUid, ReferencedSOPInstanceUID: src.sopInstanceUid }],
              },
            ],
          }
        : {}),
    PixelData: [pixel.buffer],
    _vrMap: { PixelData: 'OB' },
  };
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: SEGMENTATION_SOP_CLASS,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_LE,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: 'CINESEG_010',
  };
  let bytes: ArrayBuffer;
  try {
    const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
    dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
    bytes = dict.write();
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_OUTPUT_WRITE, `could not encode the DICOM SEG: ${(cause as Error).message}`, { cause });
  }
  writeOutput(out, new Uint8Array(bytes));
  return { sopInstanceUid, seriesInstanceUid, studyInstanceUid, frameOfReferenceUid, frames: f.count, segments: plan.labels, referencesSource: src !== null };
}
