/**
 * The server's structured log (pino): JSON lines with levels, paths and patient fields redacted.
 * Each message passes the server's path redaction (path-redactor.ts) and DICOM patient fields are
 * censored wherever they appear as fields, so that neither a user's folders nor a patient's
 * identity reach a log file or a log shipper. The parts of the server keep their `log(line)`
 * callback ({@link lineLog}); lines that carry an error code are warnings, the rest information.
 * Level: $CINESEG_LOG_LEVEL (default info).
 */
import { pino, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * DICOM attributes that identify a patient (PS3.15 E.1 basic profile, the ones a cine's header
 * commonly carries). The DICOM reader never logs element values; this is the net under it, for a
 * field a future log call might add.
 */
export const PATIENT_FIELDS = [
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'PatientSex',
  'PatientAge',
  'PatientAddress',
  'OtherPatientIDs',
  'AccessionNumber',
  'ReferringPhysicianName',
  'InstitutionName',
  'StudyID',
] as const;

/** Fields censored at the top of a line and one level down (pino's redaction paths). */
export const REDACTED_PATHS: readonly string[] = PATIENT_FIELDS.flatMap((f) => [f, `*.${f}`]);

export const CENSOR = '[redacted]';

export interface ServerLoggerOptions {
  /** The server's path redaction (PathRedactor.redact), applied to the message and to string fields. */
  redact: (text: string) => string;
  /** Each JSON line, without its newline (default: none, and the logger is silent). */
  write?: (line: string) => void;
  /** Default: $CINESEG_LOG_LEVEL, else info. */
  level?: Level | 'silent';
}

/** Top-level string values (and an error's message and stack) through the path redaction. */
function redactFields(o: object, redact: (s: string) => string): object {
  if (o instanceof Error) return { type: o.name, ...('code' in o ? { code: (o as { code: unknown }).code } : {}), message: redact(o.message), ...(o.stack ? { stack: redact(o.stack) } : {}) };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = typeof v === 'string' ? redact(v) : v instanceof Error ? redactFields(v, redact) : v;
  return out;
}

export function createServerLogger(opts: ServerLoggerOptions): Logger {
  const { redact, write } = opts;
  const level = opts.level ?? (write ? ((process.env.CINESEG_LOG_LEVEL as Level | undefined) ?? 'info') : 'silent');
  const stream: DestinationStream = { write: (s: string) => write?.(s.endsWith('\n') ? s.slice(0, -1) : s) };
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // `"level":"warn"` rather than 40: read by people as often as by shippers.
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACTED_PATHS], censor: CENSOR },
      hooks: {
        // Paths sit inside free text (messages, error lines), where redaction paths cannot reach.
        logMethod(args, method) {
          const a = args as unknown[];
          const out = a.map((x) => (typeof x === 'string' ? redact(x) : x !== null && typeof x === 'object' ? redactFields(x, redact) : x));
          method.apply(this, out as Parameters<typeof method>);
        },
      },
    },
    stream,
  );
}

/** A part's `log(line)` as lines of `logger`: warn when the line carries an error code, else info. */
export function lineLog(logger: Logger): (line: string) => void {
  return (line) => {
    if (/\bE_[A-Z][A-Z0-9_]+\b/.test(line)) logger.warn(line);
    else logger.info(line);
  };
}
