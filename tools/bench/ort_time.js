// Times ONNX Runtime (onnxruntime-node, CPU) on a model, as the inference-speed reference
// for onnx-train. Inputs are the same deterministic ramp `onnx-train run` uses; dynamic
// dimensions take the batch size.
//
//   node tools/bench/ort_time.js MODEL.onnx [BATCH] [REPEAT] [THREADS]
const ort = require('onnxruntime-node');

function ramp(type, dims) {
  const n = dims.reduce((a, b) => a * b, 1);
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from({length: n}, (_, i) => BigInt(i % 2)), dims);
  const data = Float32Array.from({length: n}, (_, i) => ((i * 37) % 200) / 100 - 1);
  return new ort.Tensor('float32', data, dims);
}

async function main() {
  const [model, batch = '1', repeat = '20', threads = '2'] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: Number(threads)});
  // onnxruntime-node does not expose input shapes; read them with a tiny protobuf-free
  // convention: the caller's model must have inputs whose non-batch dims are fixed, and
  // their shapes come from the ONNX_INPUT_SHAPES env var: "name:d0,d1,...;name2:...".
  const shapes = {};
  for (const part of (process.env.ONNX_INPUT_SHAPES || '').split(';').filter(Boolean)) {
    const [name, dims] = part.split(':');
    shapes[name] = dims.split(',').map((d) => (d === 'N' ? Number(batch) : Number(d)));
  }
  const feeds = {};
  for (const name of session.inputNames) {
    if (!shapes[name]) throw new Error(`give the shape of input '${name}' in ONNX_INPUT_SHAPES`);
    feeds[name] = ramp(process.env[`ONNX_INPUT_TYPE_${name}`] || 'float32', shapes[name]);
  }
  await session.run(feeds);
  const start = process.hrtime.bigint();
  for (let r = 0; r < Number(repeat); ++r) await session.run(feeds);
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / Number(repeat);
  console.log(`onnxruntime: ${ms.toFixed(3)} ms per run (mean of ${repeat} runs, ${threads} threads)`);
}

main().catch((e) => { console.error(e.message); process.exit(1); });
