/**
 * What resolving an input gives: its kind and the ffmpeg arguments that read it. Its own file
 * because the resolvers of each kind (input.ts, dicom-cine-source.ts, volume-source.ts) all return
 * it, and input.ts calls the others: the type apart keeps them from importing each other in a ring.
 */

/** Where frames come from: a seekable file, a folder of still images, a network stream, or stdin. */
export type InputKind = 'file' | 'image-folder' | 'live-url' | 'stdin';

/** An input ready to hand to ffmpeg or ffprobe. Call `release()` when done with it. */
export interface ResolvedInput {
  /** The input as the user gave it. */
  input: string;
  kind: InputKind;
  /** Arguments that open the input, ending with `-i <target>`; valid for ffmpeg and ffprobe alike. */
  args: string[];
  /** Whether the child must read our stdin. */
  readsStdin: boolean;
  /** Image folders: the natural-sorted file names, and the rate given to them. */
  images?: { files: string[]; fps: number };
  /** Size in bytes of a file input. */
  sizeBytes?: number;
  /** Removes anything staged for this input (the image folder's link directory). Idempotent. */
  release(): Promise<void>;
}
