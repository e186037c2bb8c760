// Child process of webgpu-device-tensors.test.ts (a crash here must not take the test runner down).
// argv: <bundle dir> <mode: cpu | chain | getdata>. Runs the image encoder and the mask decoder on
// webgpu; `chain` keeps the encoder's outputs on the device (preferredOutputLocation 'gpu-buffer')
// and feeds them to the decoder as they are; `getdata` downloads one of them with getData().
// Prints the decoder's outputs' sums as JSON.
import { createRequire } from 'node:module';
import { join } from 'node:path';

const ort = createRequire(import.meta.url)('onnxruntime-node');
const [dir, mode] = process.argv.slice(2);
const enc = await ort.InferenceSession.create(join(dir, 'image_encoder.onnx'), { executionProviders: ['webgpu'], preferredOutputLocation: mode === 'cpu' ? 'cpu' : 'gpu-buffer', logSeverityLevel: 3 });
const dec = await ort.InferenceSession.create(join(dir, 'mask_decoder.onnx'), { executionProviders: ['webgpu'], logSeverityLevel: 3 });
const img = new Float32Array(3 * 256 * 256).map((_, i) => Math.sin(i * 0.001));
// image [1,3,256,256] -> vision_feat [1,64,16,16], high_res_feat0 [1,8,64,64], high_res_feat1 [1,16,32,32]
const feat = await enc.run({ image: new ort.Tensor('float32', img, [1, 3, 256, 256]) });
const locations = Object.fromEntries(Object.entries(feat).map(([k, t]) => [k, t.location]));
if (mode === 'getdata') await feat.vision_feat.getData();
// -> low_res_masks [1,4,64,64], iou_scores [1,4], obj_ptrs [1,4,64], object_score_logits [1,1]
const out = await dec.run({
  image_embed: feat.vision_feat,
  high_res_feat0: feat.high_res_feat0,
  high_res_feat1: feat.high_res_feat1,
  point_coords: new ort.Tensor('float32', new Float32Array([100, 120]), [1, 1, 2]),
  point_labels: new ort.Tensor('float32', new Float32Array([1]), [1, 1]),
  mask_input: new ort.Tensor('float32', new Float32Array(64 * 64), [1, 1, 64, 64]),
  has_mask_input: new ort.Tensor('float32', new Float32Array([0]), [1]),
});
const sums = Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data.reduce((s, v) => s + v, 0)]));
process.stdout.write(JSON.stringify({ locations, sums }));
