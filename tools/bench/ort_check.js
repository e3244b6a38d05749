// Loads a model onnx-train exported in ONNX Runtime (onnxruntime-node, CPU) and runs it once on
// given inputs: proof that the export is a standard ONNX model (external data included), and, with
// OURS, that ONNX Runtime computes what onnx-train computes on it.
//
//   node tools/bench/ort_check.js MODEL.onnx INPUT_DIR [OURS.txt] [TOLERANCE]
//
// INPUT_DIR holds NAME.npy for each model input (little-endian int64 or float32, C order; the
// benchmark writes the first validation batch). Prints each output's shape, min, max, mean and
// first values. OURS is the text `onnx-train run MODEL --input NAME=FILE.pb ...` printed on the
// same inputs ("output NAME: float32[...]  min A  max B  mean C" then "first values: ..."): each
// of those numbers is compared, and the largest relative difference |ort - ours| / max(|ours|,
// 1e-6) is reported; the run fails (exit 1) above TOLERANCE (default 1e-3: onnx-train prints
// six significant digits, and the two engines sum in different orders).
// Ends with a `RESULT key=value ...` line.
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

// A .npy file (format 1.0 or 2.0) of int64 or float32 -> ort.Tensor.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shape || /'fortran_order':\s*True/.test(header)) throw new Error(`${file}: unsupported header ${header}`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const body = buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + n * 8);
  if (descr[1] === '<i8') return new ort.Tensor('int64', new BigInt64Array(body.slice(0, n * 8)), dims);
  if (descr[1] === '<f4') return new ort.Tensor('float32', new Float32Array(body.slice(0, n * 4)), dims);
  throw new Error(`${file}: dtype ${descr[1]}; int64 (<i8) or float32 (<f4) expected`);
}

// The numbers `onnx-train run` printed per output: {name: [min, max, mean, first values...]}.
function readOurs(file) {
  const out = {};
  let current = null;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    let m = /^output (\S+): .*?\s+min (\S+)\s+max (\S+)\s+mean (\S+)/.exec(line);
    if (m) {
      current = m[1];
      out[current] = [m[2], m[3], m[4]].map(Number);
      continue;
    }
    m = /^\s*first values:(.*)$/.exec(line);
    if (m && current) out[current].push(...m[1].split(/[\s,]+/).filter((s) => s && s !== '...').map(Number));
  }
  return out;
}

async function main() {
  const [model, inputDir, oursFile, tolArg = '1e-3'] = process.argv.slice(2);
  if (!model || !inputDir) throw new Error('usage: node ort_check.js MODEL.onnx INPUT_DIR [OURS.txt] [TOLERANCE]');
  const start = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 2, interOpNumThreads: 1});
  const loadS = Number(process.hrtime.bigint() - start) / 1e9;
  const feeds = {};
  for (const name of session.inputNames) feeds[name] = readNpy(path.join(inputDir, `${name}.npy`));
  const results = await session.run(feeds);
  const ours = oursFile ? readOurs(oursFile) : null;
  let worst = 0;
  for (const name of session.outputNames) {
    const t = results[name];
    const v = t.data;
    let min = Infinity, max = -Infinity, sum = 0;
    for (let i = 0; i < v.length; ++i) {
      min = Math.min(min, v[i]);
      max = Math.max(max, v[i]);
      sum += v[i];
    }
    const mine = [min, max, sum / v.length];
    const count = ours && ours[name] ? ours[name].length - 3 : Math.min(8, v.length);
    for (let i = 0; i < count && i < v.length; ++i) mine.push(v[i]);
    console.log(`output ${name}: ${t.type}[${t.dims.join(', ')}]  min ${min.toPrecision(6)}  max ${max.toPrecision(6)}  ` +
                `mean ${(sum / v.length).toPrecision(6)}  first values: ${mine.slice(3).map((x) => x.toPrecision(6)).join(' ')}`);
    if (ours) {
      if (!ours[name]) throw new Error(`${oursFile} has no output '${name}'`);
      ours[name].forEach((x, i) => { worst = Math.max(worst, Math.abs(mine[i] - x) / Math.max(Math.abs(x), 1e-6)); });
    }
  }
  const agree = !ours || worst <= Number(tolArg);
  console.log(`RESULT engine=onnxruntime check=export model=${path.basename(model)} load_s=${loadS.toFixed(2)} ` +
              (ours ? `max_rel_diff=${worst.toExponential(3)} tolerance=${tolArg} agree=${agree ? 1 : 0}` : 'compared=0'));
  if (!agree) process.exit(1);
}

main().catch((e) => { console.error(`ort_check.js: ${e.message}`); process.exit(1); });
