// Times ONNX Runtime (onnxruntime-node, CPU) on a model, as the inference-speed reference
// for onnx-train: the median of REPEAT runs after WARMUP untimed ones, with THREADS
// intra-op threads and one inter-op thread (sequential execution), as onnx-train runs.
//
//   node tools/bench/ort_time.js MODEL.onnx [BATCH] [REPEAT] [THREADS] [WARMUP]
//
// Input shapes and dtypes come from the spec.json beside the model (tools/bench/workloads.py
// writes it: shapes with "N" for the batch, int64 inputs with their range `high`), or, for
// other models, from ONNX_INPUT_SHAPES="name:N,3,64,64;name2:..." and
// ONNX_INPUT_TYPE_<name>=int64. Inputs are a deterministic ramp (int64: ids i % high).
// Ends with a `RESULT key=value ...` line.
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function ramp(type, dims, high) {
  const n = dims.reduce((a, b) => a * b, 1);
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from({length: n}, (_, i) => BigInt(i % high)), dims);
  const data = Float32Array.from({length: n}, (_, i) => ((i * 37) % 200) / 100 - 1);
  return new ort.Tensor('float32', data, dims);
}

// name -> {dims, type, high}: from spec.json beside the model, else from the environment.
function inputSpecs(model, batch) {
  const specs = {};
  const toDims = (shape) => shape.map((d) => (d === 'N' ? batch : Number(d)));
  const specFile = path.join(path.dirname(model), 'spec.json');
  if (!process.env.ONNX_INPUT_SHAPES && fs.existsSync(specFile)) {
    for (const i of JSON.parse(fs.readFileSync(specFile, 'utf8')).inputs)
      specs[i.name] = {dims: toDims(i.shape), type: i.dtype, high: i.high || 2};
    return specs;
  }
  for (const part of (process.env.ONNX_INPUT_SHAPES || '').split(';').filter(Boolean)) {
    const [name, dims] = part.split(':');
    specs[name] = {dims: toDims(dims.split(',')), type: process.env[`ONNX_INPUT_TYPE_${name}`] || 'float32', high: 2};
  }
  return specs;
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

async function main() {
  const [model, batchArg = '1', repeatArg = '20', threadsArg = '2', warmupArg = '3'] = process.argv.slice(2);
  const [batch, repeat, threads, warmup] = [batchArg, repeatArg, threadsArg, warmupArg].map(Number);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential'});
  const specs = inputSpecs(model, batch);
  const feeds = {};
  for (const name of session.inputNames) {
    if (!specs[name]) throw new Error(`no shape for input '${name}': give a spec.json beside the model or ONNX_INPUT_SHAPES`);
    feeds[name] = ramp(specs[name].type, specs[name].dims, specs[name].high);
  }
  for (let i = 0; i < Math.max(1, warmup); ++i) await session.run(feeds);
  const times = [];
  for (let r = 0; r < repeat; ++r) {
    const start = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const ms = median(times);
  console.log(`onnxruntime: ${ms.toFixed(3)} ms per run (median of ${repeat} runs, ${threads} threads)`);
  console.log(`RESULT mode=inference engine=onnxruntime model=${model} batch=${batch} threads=${threads} ` +
              `inference_ms=${ms.toFixed(3)} runs=${repeat}`);
}

main().catch((e) => { console.error(e.message); process.exit(1); });
