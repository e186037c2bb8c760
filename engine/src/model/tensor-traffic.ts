/**
 * Bytes of the tensors handed to and taken from the graphs, by where they lay. On a device
 * provider every CPU byte is a copy over the bus (feeds in, outputs out); device bytes are what
 * stayed on the device instead. On the CPU provider nothing is copied and everything counts as CPU.
 * Kept so the copies that device-resident features save can be measured, not assumed.
 */
import type * as ort from 'onnxruntime-node';

export interface TensorTraffic {
  cpuInBytes: number;
  cpuOutBytes: number;
  deviceInBytes: number;
  deviceOutBytes: number;
}

export function emptyTraffic(): TensorTraffic {
  return { cpuInBytes: 0, cpuOutBytes: 0, deviceInBytes: 0, deviceOutBytes: 0 };
}

const BYTES_PER_ELEMENT: Readonly<Record<string, number>> = { float32: 4, float16: 2, int64: 8, uint64: 8, int32: 4, uint32: 4, float64: 8, uint8: 1, int8: 1, bool: 1 };

/** Adds `tensors` (a run's feeds, 'in', or its outputs, 'out') to `traffic`. */
export function addTraffic(traffic: TensorTraffic, tensors: Iterable<ort.Tensor>, dir: 'in' | 'out'): void {
  for (const t of tensors) {
    const bytes = t.size * (BYTES_PER_ELEMENT[t.type] ?? 4);
    if (t.location === 'cpu') traffic[dir === 'in' ? 'cpuInBytes' : 'cpuOutBytes'] += bytes;
    else traffic[dir === 'in' ? 'deviceInBytes' : 'deviceOutBytes'] += bytes;
  }
}
