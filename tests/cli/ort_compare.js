#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (the npm package onnxruntime-node) and compares its first
// output with the output onnx-train computed for the same input.
//
//   node ort_compare.js MODEL.onnx INPUT.bin SHAPE EXPECTED.bin [ATOL]
//
// INPUT.bin and EXPECTED.bin hold raw little-endian float32 values; SHAPE is the input's shape,
// comma-separated ("5,4"), and feeds the model's first input. Prints the output's shape and the
// largest absolute difference; exits 0 when it is at most ATOL (default 1e-4), 1 when it is
// larger or the shapes disagree, 2 for a usage or loading error.
//
// onnxruntime-node is found in tests/cli/node_modules (tools/test.sh installs it there) or on
// NODE_PATH. `node ort_compare.js --check` only loads the module and prints its version.
'use strict';

const fs = require('fs');

function fail(message, code) {
  process.stderr.write(`ort_compare: ${message}\n`);
  process.exit(code);
}

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    fail(`cannot load onnxruntime-node (${e.message.split('\n')[0]}); install it with ` +
         '`cd tests/cli && npm install --ignore-scripts --no-save --no-package-lock onnxruntime-node@1.31.1` ' +
         'or run tools/test.sh', 2);
  }
}

function readFloats(path) {
  let bytes;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    fail(`${path}: cannot read: ${e.message}`, 2);
  }
  if (bytes.length % 4 !== 0) fail(`${path}: ${bytes.length} bytes is not a whole number of float32 values`, 2);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; ++i) out[i] = bytes.readFloatLE(4 * i);
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--check') {
    const ort = loadOrt();
    let version = 'unknown';
    try {
      version = require('onnxruntime-node/package.json').version;
    } catch (e) { /* the version is only informative */ }
    console.log(`onnxruntime-node ${version}: ${typeof ort.InferenceSession.create === 'function' ? 'ok' : 'broken'}`);
    return 0;
  }
  if (args.length < 4 || args.length > 5) {
    fail('usage: node ort_compare.js MODEL.onnx INPUT.bin SHAPE EXPECTED.bin [ATOL]', 2);
  }
  const [modelPath, inputPath, shapeText, expectedPath] = args;
  const atol = args.length === 5 ? Number(args[4]) : 1e-4;
  if (!(atol >= 0)) fail(`ATOL '${args[4]}' is not a number of at least 0`, 2);
  const dims = shapeText.split(',').map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) fail(`SHAPE '${shapeText}' is not comma-separated sizes`, 2);

  const ort = loadOrt();
  const input = readFloats(inputPath);
  const expected = readFloats(expectedPath);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== input.length) fail(`${inputPath}: ${input.length} values but SHAPE ${shapeText} needs ${count}`, 2);

  let session;
  try {
    session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: 'disabled' });
  } catch (e) {
    fail(`${modelPath}: ONNX Runtime cannot load the model: ${e.message}`, 1);
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input, dims) };
  let results;
  try {
    results = await session.run(feeds);
  } catch (e) {
    fail(`${modelPath}: ONNX Runtime cannot run the model: ${e.message}`, 1);
  }
  const name = session.outputNames[0];
  const output = results[name];
  console.log(`output ${name}: ${output.type}[${output.dims.join(', ')}]`);
  if (output.type !== 'float32') fail(`output ${name} is ${output.type}, not float32`, 1);
  if (output.data.length !== expected.length) {
    fail(`output ${name} has ${output.data.length} values but ${expectedPath} holds ${expected.length}`, 1);
  }
  let maxDiff = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; ++i) {
    const diff = Math.abs(output.data[i] - expected[i]);
    if (!(diff <= maxDiff)) {  // NaN counts as the largest difference
      maxDiff = Number.isNaN(diff) ? Infinity : diff;
      worst = i;
    }
  }
  console.log(`max abs diff ${maxDiff} (element ${worst}: onnxruntime ${output.data[worst]}, ` +
              `onnx-train ${expected[worst]}), atol ${atol}`);
  return maxDiff <= atol ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => fail(e.stack || String(e), 2));
