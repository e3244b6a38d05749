#!/usr/bin/env node
// Runs case folders of tests/data/opset_new/ (and tests/data/opset_models/) in ONNX Runtime (the
// npm package onnxruntime-node) and writes their outputs beside their inputs: ONNX Runtime is the
// oracle the runtime's forward is compared with (tests/importers/opset_new_test.cc). Called by
// tests/data/make_opset_new.py and make_opset_models.py.
//
//   node opset_new_ort.js CASE_DIR...
//
// For each CASE_DIR: loads CASE_DIR/model.onnx, feeds every CASE_DIR/test_data_set_0/input_<i>.pb
// (a TensorProto; its name says which model input it feeds, an unnamed one feeds the model's
// i-th input), and writes output_<i>.pb for the model's outputs in order, each a TensorProto
// named after the output with its data in raw_data. Graph optimisations are off, so the outputs
// are those of the op kernels themselves. Prints the module's version first ("onnxruntime-node
// 1.31.1"), then one line per case. A case ONNX Runtime cannot load or run is named on stderr
// and the others still run; the exit status is then 1 (2 for a usage error).
//
// TensorProto is read and written with the few protobuf fields the test data uses (dims 1,
// data_type 2, name 8, raw_data 9); tests/data/make_opset_new.py writes inputs that way
// (numpy_helper.from_array). onnxruntime-node is found on NODE_PATH or in tests/cli/node_modules.
'use strict';

const fs = require('fs');
const path = require('path');

function fail(message, code) {
  process.stderr.write(`opset_new_ort: ${message}\n`);
  process.exit(code);
}

// The module and its version, from NODE_PATH or tests/cli/node_modules.
function loadOrt() {
  for (const candidate of ['onnxruntime-node', path.join(__dirname, '..', 'cli', 'node_modules', 'onnxruntime-node')]) {
    let main;
    try {
      main = require.resolve(candidate);
    } catch (e) {
      continue;
    }
    let version = 'unknown';
    try {
      version = require(path.join(path.dirname(main), '..', 'package.json')).version;
    } catch (e) { /* the version is only informative */ }
    return { ort: require(main), version };
  }
  fail('cannot load onnxruntime-node: put it on NODE_PATH or install it into tests/cli/node_modules ' +
       '(tools/test.sh does)', 2);
}

// ONNX TensorProto.DataType -> [onnxruntime-node type, typed array].
const kTypes = {
  1: ['float32', Float32Array],
  2: ['uint8', Uint8Array],
  3: ['int8', Int8Array],
  4: ['uint16', Uint16Array],
  5: ['int16', Int16Array],
  6: ['int32', Int32Array],
  7: ['int64', BigInt64Array],
  9: ['bool', Uint8Array],
  10: ['float16', Uint16Array],
  11: ['float64', Float64Array],
  12: ['uint32', Uint32Array],
  13: ['uint64', BigUint64Array],
};

// ---- protobuf wire format: varints and length-delimited fields

function readVarint(buf, at) {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    if (at.pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[at.pos++];
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return value;
    shift += 7n;
  }
}

function writeVarint(out, value) {
  let v = BigInt.asUintN(64, BigInt(value));
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
}

function parseTensor(buf, file) {
  const tensor = { dims: [], dataType: 0, name: '', raw: null };
  const at = { pos: 0 };
  while (at.pos < buf.length) {
    const key = Number(readVarint(buf, at));
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) {
      const v = readVarint(buf, at);
      if (field === 1) tensor.dims.push(Number(BigInt.asIntN(64, v)));
      if (field === 2) tensor.dataType = Number(v);
    } else if (wire === 2) {
      const length = Number(readVarint(buf, at));
      const bytes = buf.subarray(at.pos, at.pos + length);
      at.pos += length;
      if (field === 1) {  // packed dims
        const inner = { pos: 0 };
        while (inner.pos < bytes.length) tensor.dims.push(Number(BigInt.asIntN(64, readVarint(bytes, inner))));
      } else if (field === 8) {
        tensor.name = bytes.toString('utf8');
      } else if (field === 9) {
        tensor.raw = bytes;
      } else if (field === 4 || field === 5 || field === 7 || field === 10 || field === 11) {
        fail(`${file}: values in a typed field (${field}); write them as raw_data`, 2);
      }
    } else if (wire === 5) {
      at.pos += 4;
    } else if (wire === 1) {
      at.pos += 8;
    } else {
      fail(`${file}: unexpected protobuf wire type ${wire}`, 2);
    }
  }
  return tensor;
}

function ortTensor(ort, tensor, file) {
  const type = kTypes[tensor.dataType];
  if (type === undefined) fail(`${file}: element type ${tensor.dataType} is not supported here`, 2);
  const [name, TypedArray] = type;
  const raw = tensor.raw || Buffer.alloc(0);
  const count = tensor.dims.reduce((a, b) => a * b, 1);
  if (raw.length !== count * TypedArray.BYTES_PER_ELEMENT) {
    fail(`${file}: ${raw.length} bytes of raw_data for ${count} values of ${name}`, 2);
  }
  const copy = new Uint8Array(raw);  // aligned
  return new ort.Tensor(name, new TypedArray(copy.buffer, 0, count), tensor.dims);
}

function tensorBytes(name, output) {
  const entry = Object.entries(kTypes).find(([, [type]]) => type === output.type);
  if (entry === undefined) throw new Error(`output ${name} is ${output.type}, which this script cannot write`);
  const out = [];
  for (const d of output.dims) {
    out.push(0x08);
    writeVarint(out, d);
  }
  out.push(0x10);
  writeVarint(out, Number(entry[0]));
  const nameBytes = Buffer.from(name, 'utf8');
  out.push(0x42);
  writeVarint(out, nameBytes.length);
  const data = Buffer.from(output.data.buffer, output.data.byteOffset, output.data.byteLength);
  const head = Buffer.from(out);
  const rawKey = [0x4a];
  writeVarint(rawKey, data.length);
  return Buffer.concat([head, nameBytes, Buffer.from(rawKey), data]);
}

function numbered(dir, prefix) {
  return fs.readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .map((f) => [Number(f.slice(prefix.length, -3)), f])
    .sort((a, b) => a[0] - b[0])
    .map(([, f]) => path.join(dir, f));
}

async function runCase(ort, dir) {
  const data = path.join(dir, 'test_data_set_0');
  let session;
  try {
    session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), { graphOptimizationLevel: 'disabled' });
  } catch (e) {
    throw new Error(`${dir}: ONNX Runtime cannot load the model: ${e.message}`);
  }
  const feeds = {};
  numbered(data, 'input_').forEach((file, i) => {
    const tensor = parseTensor(fs.readFileSync(file), file);
    const name = tensor.name || session.inputNames[i];
    if (!session.inputNames.includes(name)) fail(`${file}: the model has no input '${name}'`, 2);
    feeds[name] = ortTensor(ort, tensor, file);
  });
  let results;
  try {
    results = await session.run(feeds);
  } catch (e) {
    throw new Error(`${dir}: ONNX Runtime cannot run the model: ${e.message}`);
  }
  for (const file of numbered(data, 'output_')) fs.unlinkSync(file);
  session.outputNames.forEach((name, i) => {
    fs.writeFileSync(path.join(data, `output_${i}.pb`), tensorBytes(name, results[name]));
  });
  console.log(`${path.basename(dir)}: ${session.outputNames.map((n) => `${n} ${results[n].type}[${results[n].dims}]`)
    .join(', ')}`);
}

async function main() {
  const dirs = process.argv.slice(2);
  if (dirs.length === 0) fail('usage: node opset_new_ort.js CASE_DIR...', 2);
  const { ort, version } = loadOrt();
  console.log(`onnxruntime-node ${version}`);
  let failed = 0;
  for (const dir of dirs) {
    try {
      await runCase(ort, dir);
    } catch (e) {
      process.stderr.write(`opset_new_ort: ${e.message}\n`);
      ++failed;
    }
  }
  return failed === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => fail(e.stack || String(e), 2));
