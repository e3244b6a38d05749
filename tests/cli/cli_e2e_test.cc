// End-to-end tests of the onnx-train command line: the real binary (ONNX_TRAIN_CLI) run as a
// user runs it, on models and data written here into a temporary folder. Training, its log
// and plot, every data format, resume-equals-uninterrupted (epoch and mid-epoch checkpoints,
// accumulation, Dropout and BatchNormalization), `export` from a checkpoint, eval / inspect /
// graph, transfer learning, every kind of bad input, Ctrl-C, and the exported models run in
// ONNX Runtime (tests/cli/ort_compare.js with onnxruntime-node; tools/test.sh installs it).
// tests/cli/README.md says what runs where.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <png.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include <fmt/format.h>

#include "importers/tensor_proto.h"
#include "onnx_train/session.h"
#include "tests/cli/cli_harness.h"
#include "tests/support/data_files.h"
#include "tests/support/model_builder.h"

namespace onnx_train::cli_test {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

const std::string kSourceDir = ONNX_TRAIN_SOURCE_DIR;
const std::string kParityDir = kSourceDir + "/tests/data/train_parity";

// ---- Models

// x [N, 3, 6, 6] -> Flatten -> Gemm(2) -> logits: for image class folders.
std::string make_image_model(const std::string& path) { return make_linear(path, {3, 6, 6}, 2); }

onnx::ModelProto load_proto(const std::string& path) {
  onnx::ModelProto proto;
  EXPECT_TRUE(proto.ParseFromString(read_file(path))) << path;
  return proto;
}

std::map<std::string, Tensor> initializers_of(const std::string& path) {
  std::map<std::string, Tensor> out;
  const onnx::ModelProto proto = load_proto(path);
  for (const auto& t : proto.graph().initializer())
    out.emplace(t.name(), tensor_from_proto(t, fs::path(path).parent_path().string(), path));
  return out;
}

// ---- Data

std::string le_bytes(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// A zip archive of stored members, as numpy.savez writes one.
std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& members) {
  std::string body, directory;
  for (const auto& [name, data] : members) {
    const auto crc =
        static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    const uint64_t offset = body.size();
    const std::string sizes = le_bytes(crc, 4) + le_bytes(data.size(), 4) + le_bytes(data.size(), 4);
    body += le_bytes(0x04034b50, 4) + le_bytes(20, 2) + le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(0, 4) + sizes +
            le_bytes(name.size(), 2) + le_bytes(0, 2) + name + data;
    directory += le_bytes(0x02014b50, 4) + le_bytes(20, 2) + le_bytes(20, 2) + le_bytes(0, 2) + le_bytes(0, 2) +
                 le_bytes(0, 4) + sizes + le_bytes(name.size(), 2) + le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(0, 2) +
                 le_bytes(0, 2) + le_bytes(0, 4) + le_bytes(offset, 4) + name;
  }
  const std::string end = le_bytes(0x06054b50, 4) + le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(members.size(), 2) +
                          le_bytes(members.size(), 2) + le_bytes(directory.size(), 4) + le_bytes(body.size(), 4) +
                          le_bytes(0, 2);
  return body + directory + end;
}

void write_tensor(const std::string& path, const Tensor& t, const std::string& name) {
  onnx::TensorProto proto;
  tensor_to_proto(t, proto);
  proto.set_name(name);
  write_file(path, proto.SerializeAsString());
}

std::string csv_text(const Samples& s) {
  std::string text = "f0,f1,f2,f3,label\n";
  for (int i = 0; i < s.n; ++i) {
    for (int j = 0; j < 4; ++j) text += fmt::format("{:.6g},", s.x[4 * i + j]);
    text += std::to_string(s.y[i]) + "\n";
  }
  return text;
}

// IDX: magic 0 0 0x08 (uint8) NDIM, big-endian dims, the bytes.
std::string idx_u8(const Shape& dims, const std::vector<uint8_t>& values) {
  std::string out = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (int64_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xFF);
  return out + bytes_of(values);
}

// A .gz file's bytes.
std::string gzipped(const std::string& data) { return testing::zlib_deflate(data, Z_DEFAULT_COMPRESSION, 15 + 16); }

// MNIST's layout: train-images-idx3-ubyte (2 x 2 uint8 "images" of the clusters), its labels,
// and t10k-* for validation; gzip'd with `gz`.
void write_idx_data(const std::string& data, bool gz) {
  auto write = [&](const std::string& prefix, const Samples& s) {
    std::vector<uint8_t> pixels, labels;
    for (float v : s.x) pixels.push_back(static_cast<uint8_t>(std::clamp(128.f + 40.f * v, 0.f, 255.f)));
    for (int64_t y : s.y) labels.push_back(static_cast<uint8_t>(y));
    const std::string images = idx_u8({s.n, 2, 2}, pixels), label_bytes = idx_u8({s.n}, labels);
    const std::string ext = gz ? ".gz" : "";
    write_file(data + "/" + prefix + "-images-idx3-ubyte" + ext, gz ? gzipped(images) : images);
    write_file(data + "/" + prefix + "-labels-idx1-ubyte" + ext, gz ? gzipped(label_bytes) : label_bytes);
  };
  write("train", separable(40, 3));
  write("t10k", separable(16, 4));
}

void write_jpeg_rgb(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb) {
  fs::create_directories(fs::path(path).parent_path());
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  jpeg_compress_struct cinfo;
  jpeg_error_mgr errors;
  cinfo.err = jpeg_std_error(&errors);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, file);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 95, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(rgb.data()) + cinfo.next_scanline * width * 3;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(file);
}

// SPLIT/a_dark/*.{png,jpg} and SPLIT/b_bright/*.{png,jpg}: 8 x 8 RGB pictures, resized to the
// model's 6 x 6; every other picture of a class is a JPEG.
void write_image_split(const std::string& split, int per_class, unsigned seed) {
  std::mt19937 rng(seed);
  for (int c = 0; c < 2; ++c) {
    std::uniform_int_distribution<int> value(c == 0 ? 0 : 170, c == 0 ? 85 : 255);
    for (int i = 0; i < per_class; ++i) {
      std::vector<uint8_t> rgb(8 * 8 * 3);
      for (auto& v : rgb) v = static_cast<uint8_t>(value(rng));
      const std::string stem = split + (c == 0 ? "/a_dark/" : "/b_bright/") + "img" + std::to_string(i);
      if (i % 2 == 0)
        testing::write_png_file(stem + ".png", 8, 8, 3, rgb);
      else
        write_jpeg_rgb(stem + ".jpg", 8, 8, rgb);
    }
  }
}

// ---- The JSON Lines log

// A flat JSON object's members, values as written (strings without their quotes); empty,
// with a test failure, for a line that is not one.
std::map<std::string, std::string> parse_json_object(const std::string& line) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  auto ws = [&] {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
  };
  auto string_at = [&](std::string& s) {
    if (i >= line.size() || line[i] != '"') return false;
    for (++i; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) ++i;
      s += line[i];
    }
    if (i >= line.size()) return false;
    ++i;
    return true;
  };
  auto bad = [&] {
    ADD_FAILURE() << "not a flat JSON object: " << line;
    return std::map<std::string, std::string>{};
  };
  ws();
  if (i >= line.size() || line[i++] != '{') return bad();
  ws();
  if (i < line.size() && line[i] == '}') return out;
  for (;;) {
    ws();
    std::string key, value;
    if (!string_at(key)) return bad();
    ws();
    if (i >= line.size() || line[i++] != ':') return bad();
    ws();
    if (i < line.size() && line[i] == '"') {
      if (!string_at(value)) return bad();
    } else {
      while (i < line.size() && line[i] != ',' && line[i] != '}') value += line[i++];
      while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
      if (value.empty()) return bad();
    }
    out[key] = value;
    ws();
    if (i >= line.size()) return bad();
    if (line[i] == ',') {
      ++i;
      continue;
    }
    if (line[i] != '}') return bad();
    ++i;
    ws();
    if (i != line.size()) return bad();
    return out;
  }
}

// The log's lines that record optimizer steps and validations (not events such as
// checkpoints, whose paths differ between runs).
// The step and validation lines of a log, without the wall time of each step (which no two runs share).
std::vector<std::string> metric_lines(const std::string& log_path) {
  static const std::regex time(", \"time\": [0-9.e+-]+");
  std::vector<std::string> out;
  for (const auto& line : lines_of(read_file(log_path))) {
    if (line.find("\"loss\"") != std::string::npos || line.find("\"val_loss\"") != std::string::npos)
      out.push_back(std::regex_replace(line, time, ""));
  }
  return out;
}

// ---- The fixture

class Cli : public CliTest {
 public:
  // A run that must fail with one clear message on stderr holding every part of `says`
  // (CliTest::fails), without having been killed or having crashed, and leave the work folder
  // as it was: no exported model, no half-written file.
  CliRun fails(const std::vector<std::string>& args, const std::vector<std::string>& says) {
    const std::set<std::string> before = tree(work_);
    CliRun r = CliTest::fails(args, says);
    EXPECT_NE(r.code, -1) << r.show();
    EXPECT_LACKS(r.err, "terminate called");
    EXPECT_LACKS(r.out, "wrote ");
    const std::set<std::string> after = tree(work_);
    EXPECT_EQ(joined(after), joined(before)) << "the failed run left files behind\n" << r.show();
    return r;
  }
};

// ---- Training, its log, plot and export

TEST_F(Cli, TrainsOnNpyDataWithLogPlotAndExport) {
  const std::string model = make_mlp(path("models/mlp.onnx"), false);
  write_npy_data(path("data"), separable(48, 1), 24);
  fs::create_directories(path("out"));
  const CliRun r = ok({model, path("data"), "--epochs", "3", "--batch-size", "8", "--lr", "0.05", "--seed", "1",
                       "--log", path("out/log.jsonl"), "--plot", path("out/plot.svg")});

  // What the user sees: the data, a line per epoch, the summary, what was written.
  EXPECT_HAS(r.out,
             "train: 48 samples from " + path("data/train/x.npy") + ", " + path("data/train/label.npy") + " (npy)");
  EXPECT_HAS(r.out, "val:   24 samples from");
  for (int e = 1; e <= 3; ++e) EXPECT_HAS(r.out, fmt::format("epoch {}/3: train loss ", e));
  EXPECT_HAS(r.out, "done: 18 steps in ");
  const size_t done = r.out.find("done: ");
  ASSERT_NE(done, std::string::npos) << r.show();
  const std::string summary = r.out.substr(done, r.out.find('\n', done) - done);
  EXPECT_HAS(summary, "; train loss ");
  EXPECT_HAS(summary, "; val loss ");
  EXPECT_GE(number_after(summary, "val accuracy "), 90.0) << summary;  // the clusters are easy
  EXPECT_HAS(r.out, "wrote mlp.trained.onnx");                         // the default export path: the current folder
  EXPECT_HAS(r.out, "wrote " + path("out/plot.svg"));
  EXPECT_LACKS(r.out, "\r");  // not a terminal: plain lines, no redrawn bar

  // The exported model: the original inputs and outputs, runs in onnx_train::Session, and
  // its weights are trained ones.
  const std::string exported = work_ + "/mlp.trained.onnx";
  ASSERT_TRUE(fs::exists(exported)) << r.show();
  Session session = Session::from_file(exported);
  ASSERT_EQ(session.inputs().size(), 1u);
  EXPECT_EQ(session.inputs()[0].name, "x");
  ASSERT_EQ(session.outputs().size(), 1u);
  EXPECT_EQ(session.outputs()[0].name, "logits");
  const Samples probe = separable(5, 77);
  const auto outputs = session.run({{"x", Tensor::from<float>({5, 4}, probe.x)}});
  EXPECT_EQ(outputs.at(0).describe(), "float32[5, 3]");
  const auto before = initializers_of(model), after = initializers_of(exported);
  ASSERT_EQ(after.size(), before.size());
  EXPECT_NE(after.at("fc1.weight").to_doubles(), before.at("fc1.weight").to_doubles());

  // The log: one object per optimizer step (step, epoch, loss, lr) and one per validation.
  int steps = 0, validations = 0;
  for (const auto& line : lines_of(read_file(path("out/log.jsonl")))) {
    const auto obj = parse_json_object(line);
    if (obj.count("loss")) {
      ++steps;
      EXPECT_EQ(obj.count("step"), 1u) << line;
      EXPECT_EQ(obj.count("lr"), 1u) << line;
      EXPECT_EQ(obj.count("epoch"), 1u) << line;
      if (obj.count("step") && obj.count("epoch")) {
        EXPECT_EQ(std::stoi(obj.at("step")), steps) << line;
        EXPECT_EQ(std::stoi(obj.at("epoch")), (steps - 1) / 6 + 1) << line;
      }
      if (obj.count("lr")) {
        EXPECT_DOUBLE_EQ(std::stod(obj.at("lr")), 0.05) << line;
      }
      EXPECT_TRUE(std::isfinite(std::stod(obj.at("loss")))) << line;
    } else if (obj.count("val_loss")) {
      ++validations;
      EXPECT_EQ(obj.count("val_accuracy"), 1u) << line;
      EXPECT_EQ(obj.count("epoch") ? std::stoi(obj.at("epoch")) : 0, validations) << line;
      EXPECT_EQ(obj.count("step") ? std::stoi(obj.at("step")) : 0, 6 * validations) << line;
    } else {
      EXPECT_EQ(obj.count("event"), 1u) << line;
    }
  }
  EXPECT_EQ(steps, 18);
  EXPECT_EQ(validations, 3);

  // The plot: one whole SVG with the curves' names in its legend.
  const std::string svg = read_file(path("out/plot.svg"));
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_EQ(svg.substr(svg.find_last_not_of(" \n") - 5, 6), "</svg>");
  EXPECT_HAS(svg, "train loss");
  EXPECT_HAS(svg, "val accuracy");
  EXPECT_FALSE(fs::exists(path("out/plot.svg.partial")));
}

TEST_F(Cli, ValSplitQuietAndExportTrainingContinues) {
  const std::string model = make_mlp(path("models/mlp.onnx"), false);
  const Samples s = separable(40, 5);
  write_file(path("data/x.npy"), x_npy(s));
  write_file(path("data/label.npy"), y_npy(s));
  fs::create_directories(path("out"));
  const CliRun r = ok({model, path("data"), "--val-split", "0.25", "--batch-size", "8", "-o", path("out/a.onnx"),
                       "--export-training", path("out/a.training.onnx")});
  EXPECT_HAS(r.out, "30 samples of 40 samples from");
  EXPECT_HAS(r.out, "10 samples of 40 samples from");
  EXPECT_HAS(r.out, "held out for validation");
  EXPECT_HAS(r.out, "done: 4 steps");
  EXPECT_HAS(r.out, "wrote " + path("out/a.onnx"));
  EXPECT_HAS(r.out, "wrote " + path("out/a.training.onnx"));
  const onnx::ModelProto training = load_proto(path("out/a.training.onnx"));
  EXPECT_GT(training.training_info_size(), 0);

  // Training continues from the TrainingInfoProto model.
  const CliRun again =
      ok({path("out/a.training.onnx"), path("data"), "--batch-size", "8", "--quiet", "-o", path("out/b.onnx")});
  EXPECT_HAS(again.out, "done: 5 steps");
  EXPECT_EQ(lines_of(again.out).size(), 2u) << again.out;  // --quiet: the summary and what was written
  EXPECT_TRUE(fs::exists(path("out/b.onnx")));
}

// Outputs into a folder that does not exist yet: either the folder is made (as
// --checkpoint-dir does) or the run stops before training, not after it with the work lost.
TEST_F(Cli, OutputsIntoAMissingFolderAreWrittenOrRefusedBeforeTraining) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(16, 1), 8);
  for (const std::string flag : {"-o", "--export-training", "--plot", "--log"}) {
    const std::string target = path("missing_" + flag.substr(flag.find_first_not_of('-')) + "/out");
    std::vector<std::string> args = {model, path("data"), "--batch-size", "8", flag, target};
    if (flag != "-o") args.insert(args.end(), {"-o", path("model.onnx")});
    const CliRun r = run(args);
    if (r.code == 0) {
      EXPECT_TRUE(fs::exists(target)) << flag << " " << target << " not written\n" << r.show();
    } else {
      EXPECT_LACKS(r.out, "epoch 1/1") << "with " << flag << ": refused after training, not before it";
      EXPECT_HAS(r.err, fs::path(target).parent_path().string());
    }
  }
}

// A model exported with a fixed batch size (the parity CNN takes exactly 8 samples) and data
// that does not divide into it: the partial batches (the last training batch, validation
// batches) are either handled or refused before training, not found after an epoch of work.
TEST_F(Cli, FixedBatchModelWithPartialBatchesWorksOrIsRefusedBeforeTraining) {
  const std::string model = kParityDir + "/cnn/model.onnx";  // x float32[8, 1, 12, 12]
  std::vector<float> x(12 * 144);
  std::mt19937 rng(8);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (auto& v : x) v = normal(rng);
  std::vector<int64_t> y(12);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int64_t>(i % 10);
  write_file(path("data/x.npy"), npy("<f4", {12, 1, 12, 12}, bytes_of(x)));
  write_file(path("data/label.npy"), npy("<i8", {12}, bytes_of(y)));
  const std::vector<std::vector<std::string>> cases = {
      {"--batch-size", "8"},                                        // 8 + 4 training samples
      {"--batch-size", "8", "--drop-last", "--val-split", "0.34"},  // 8 for training, 4 for validation
  };
  for (const auto& extra : cases) {
    std::vector<std::string> args = {model, path("data"), "-o", path("out.onnx")};
    args.insert(args.end(), extra.begin(), extra.end());
    fs::remove(path("out.onnx"));
    const CliRun r = run(args);
    if (r.code == 0) {
      EXPECT_TRUE(fs::exists(path("out.onnx"))) << r.show();
    } else {
      EXPECT_LACKS(r.out, "step 1/") << "refused after training had started, not before\n" << r.show();
      EXPECT_EQ(count_of(r.err, "onnx-train: error: "), 1) << r.show();
      EXPECT_HAS(r.err, "8");
      EXPECT_FALSE(fs::exists(path("out.onnx")));
    }
  }
}

// ---- Every data format

// Trains on DATA (one epoch unless `extra` says otherwise) and checks how the data was read:
// `train` and `val` start the lines describing the splits, `format` ends them.
void expect_trains(Cli& test, const std::string& model, const std::string& data, const std::string& format,
                   const std::string& train, const std::string& val, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {model, data, "--batch-size", "8", "-o", data + ".onnx"};
  args.insert(args.end(), extra.begin(), extra.end());
  const CliRun r = test.ok(args);
  EXPECT_HAS(r.out, "train: " + train);
  EXPECT_HAS(r.out, "(" + format + ")");
  EXPECT_HAS(r.out, "val:   " + val);
  EXPECT_HAS(r.out, ", val accuracy ");
  EXPECT_HAS(r.out, "done: ");
  ASSERT_TRUE(fs::exists(data + ".onnx")) << r.show();
  EXPECT_NE(initializers_of(data + ".onnx").begin()->second.to_doubles(),
            initializers_of(model).begin()->second.to_doubles());
}

TEST_F(Cli, TrainsOnNpz) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  const Samples t = separable(40, 1), v = separable(16, 2);
  write_file(path("data/train/data.npz"), zip_stored({{"x.npy", x_npy(t)}, {"label.npy", y_npy(t)}}));
  write_file(path("data/val/data.npz"), zip_stored({{"x.npy", x_npy(v)}, {"label.npy", y_npy(v)}}));
  expect_trains(*this, model, path("data"), "npz", "40 samples from " + path("data/train/data.npz"),
                "16 samples from " + path("data/val/data.npz"));
}

TEST_F(Cli, TrainsOnOnnxTestDataSets) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  for (int set = 0; set < 3; ++set) {
    const Samples s = separable(16, 10 + set);
    const std::string dir = path(fmt::format("data/{}/test_data_set_{}", set < 2 ? "train" : "val", set));
    write_tensor(dir + "/input_0.pb", Tensor::from<float>({16, 4}, s.x), "x");
    write_tensor(dir + "/label.pb", Tensor::from<int64_t>({16}, s.y), "label");
  }
  expect_trains(*this, model, path("data"), "ONNX test data sets",
                "32 samples from 2 test data set(s) in " + path("data/train"),
                "16 samples from 1 test data set(s) in " + path("data/val"));
}

TEST_F(Cli, TrainsOnCsv) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_file(path("data/train.csv"), csv_text(separable(40, 1)));
  write_file(path("data/val.csv"), csv_text(separable(16, 2)));
  expect_trains(*this, model, path("data"), "csv", "40 samples from " + path("data/train.csv"),
                "16 samples from " + path("data/val.csv"));
}

TEST_F(Cli, TrainsOnIdx) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_idx_data(path("data"), /*gz=*/false);
  expect_trains(*this, model, path("data"), "IDX", "40 samples from " + path("data/train-images-idx3-ubyte"),
                "16 samples from " + path("data/t10k-images-idx3-ubyte"));
}

TEST_F(Cli, TrainsOnGzippedIdx) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_idx_data(path("data"), /*gz=*/true);
  expect_trains(*this, model, path("data"), "IDX", "40 samples from " + path("data/train-images-idx3-ubyte.gz"),
                "16 samples from " + path("data/t10k-images-idx3-ubyte.gz"));
}

TEST_F(Cli, TrainsOnImageClassFoldersOfPngAndJpeg) {
  const std::string model = make_image_model(path("images.onnx"));
  write_image_split(path("data/train"), 12, 1);
  write_image_split(path("data/val"), 4, 2);
  expect_trains(*this, model, path("data"), "PNG/JPEG", "24 images in 2 class folders of " + path("data/train"),
                "8 images in 2 class folders of " + path("data/val"),
                {"--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--lr", "0.01", "--epochs", "2"});
  // Bright and dark pictures are told apart.
  const CliRun eval = ok({"eval", path("data.onnx"), path("data"), "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25"});
  EXPECT_HAS(eval.out, "accuracy 100.00% (8 of 8)");
}

// ---- Resume equals uninterrupted

struct ResumeCase {
  bool bn_and_dropout;
  int accumulate;
};

class CliResume : public Cli, public ::testing::WithParamInterface<ResumeCase> {};

TEST_P(CliResume, EpochCheckpointResumeEqualsUninterrupted) {
  const ResumeCase c = GetParam();
  const std::string model = make_mlp(path("mlp.onnx"), c.bn_and_dropout);
  write_npy_data(path("data"), separable(40, 1), 16);  // 5 batches of 8: with --accumulate 2, the last step is partial
  const std::vector<std::string> common = {model,          path("data"),
                                           "--batch-size", "8",
                                           "--seed",       "3",
                                           "--lr",         "0.02",
                                           "--accumulate", std::to_string(c.accumulate)};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = common;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  const int steps_per_epoch = (5 + c.accumulate - 1) / c.accumulate;

  // A: two epochs at once.
  const CliRun a =
      ok(with({"--epochs", "2", "--checkpoint-dir", path("ckA"), "-o", path("a.onnx"), "--log", path("a.jsonl")}));
  EXPECT_HAS(a.out, fmt::format("done: {} steps", 2 * steps_per_epoch));
  // B: one epoch, then resumed for a second one.
  const CliRun b1 =
      ok(with({"--epochs", "1", "--checkpoint-dir", path("ckB"), "-o", path("b1.onnx"), "--log", path("b.jsonl")}));
  EXPECT_HAS(b1.out, fmt::format("done: {} steps", steps_per_epoch));
  EXPECT_TRUE(fs::exists(path(fmt::format("ckB/step-{:09d}.ckpt", steps_per_epoch)))) << joined(tree(path("ckB")));
  const CliRun b2 = ok(with(
      {"--epochs", "2", "--checkpoint-dir", path("ckB"), "--resume", "-o", path("b.onnx"), "--log", path("b.jsonl")}));
  EXPECT_HAS(b2.out, fmt::format("resumed from {}/step-{:09d}.ckpt: step {}, epoch 2", path("ckB"), steps_per_epoch,
                                 steps_per_epoch));
  EXPECT_HAS(b2.out, fmt::format("done: {} steps", 2 * steps_per_epoch));
  EXPECT_LACKS(b2.out, "epoch 1/2:");

  ASSERT_TRUE(fs::exists(path("a.onnx")) && fs::exists(path("b.onnx")));
  EXPECT_TRUE(read_file(path("a.onnx")) == read_file(path("b.onnx")))
      << "the resumed run's model differs from the uninterrupted run's";
  EXPECT_FALSE(read_file(path("b1.onnx")) == read_file(path("b.onnx")));
  // The log of B (appended by the resumed run) has the same steps, losses and validations.
  EXPECT_EQ(metric_lines(path("b.jsonl")), metric_lines(path("a.jsonl")));

  // `onnx-train export CHECKPOINT` gives the run's own export, byte for byte.
  const std::string last = path(fmt::format("ckA/step-{:09d}.ckpt", 2 * steps_per_epoch));
  ASSERT_TRUE(fs::exists(last)) << joined(tree(path("ckA")));
  const CliRun e = ok({"export", last, "-o", path("exported.onnx")});
  EXPECT_HAS(e.out, "wrote " + path("exported.onnx"));
  EXPECT_HAS(e.out, fmt::format("(step {})", 2 * steps_per_epoch));
  EXPECT_TRUE(read_file(path("exported.onnx")) == read_file(path("a.onnx")))
      << "export from the last checkpoint differs from the run's export";
}

INSTANTIATE_TEST_SUITE_P(Cli, CliResume,
                         ::testing::Values(ResumeCase{false, 1}, ResumeCase{true, 1}, ResumeCase{true, 2}),
                         [](const auto& info) {
                           return std::string(info.param.bn_and_dropout ? "BatchNormDropout" : "Plain") + "Accumulate" +
                                  std::to_string(info.param.accumulate);
                         });

TEST_F(Cli, MidEpochCheckpointResumeEqualsUninterrupted) {
  const std::string model = make_mlp(path("mlp.onnx"), true);
  write_npy_data(path("data"), separable(48, 1), 16);  // 6 steps per epoch
  const std::vector<std::string> common = {
      model,        path("data"), "--batch-size",   "8", "--seed",      "9",   "--epochs",   "2",  "--lr", "0.02",
      "--schedule", "cosine",     "--warmup-steps", "3", "--optimizer", "sgd", "--momentum", "0.9"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = common;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  const CliRun a = ok(with({"--checkpoint-dir", path("ckA"), "--checkpoint-every", "4", "--keep-checkpoints", "10",
                            "-o", path("a.onnx"), "--log", path("a.jsonl")}));
  EXPECT_HAS(a.out, "done: 12 steps");
  // Steps 4 and 8 are inside epochs 1 and 2; 6 and 12 end them.
  EXPECT_EQ(joined(tree(path("ckA"))),
            "step-000000004.ckpt, step-000000006.ckpt, step-000000008.ckpt, step-000000012.ckpt");

  for (int step : {4, 8}) {
    const std::string ckpt = path(fmt::format("ckA/step-{:09d}.ckpt", step));
    const std::string out = path(fmt::format("resumed{}.onnx", step));
    const CliRun r = ok(with({"--checkpoint-dir", path(fmt::format("ckR{}", step)), "--resume", ckpt, "-o", out}));
    EXPECT_HAS(r.out, fmt::format("resumed from {}: step {}, epoch {}, batch {}", ckpt, step, step < 6 ? 1 : 2,
                                  step < 6 ? 4 : 2));
    EXPECT_HAS(r.out, "done: 12 steps");
    EXPECT_TRUE(read_file(out) == read_file(path("a.onnx")))
        << "resuming from the mid-epoch checkpoint of step " << step << " ends with other weights";
  }
}

TEST_F(Cli, ResumeRefusesACheckpointOfOtherOptions) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(16, 1));
  ok({model, path("data"), "--batch-size", "8", "--checkpoint-dir", path("ck"), "-o", path("a.onnx")});
  // (--lr may change on resume; the seed may not: tests/cli/run_folder_test.cc has the rest.)
  fails({model, path("data"), "--batch-size", "8", "--seed", "5", "--checkpoint-dir", path("ck"), "--resume", "-o",
         path("b.onnx")},
        {path("ck/step-000000002.ckpt"), "the checkpoint was made by a run with other options", "--seed"});
  EXPECT_FALSE(fs::exists(path("b.onnx")));
  fails({model, path("data"), "--resume"}, {"--resume without a CHECKPOINT needs --checkpoint-dir"});
}

// ---- eval, inspect, graph

TEST_F(Cli, EvalMatchesTheRunsValidation) {
  const std::string model = make_mlp(path("mlp.onnx"), true);
  write_npy_data(path("data"), separable(40, 1), 20);
  const CliRun train =
      ok({model, path("data"), "--batch-size", "8", "--epochs", "2", "--lr", "0.05", "-o", path("t.onnx")});
  const size_t done = train.out.find("done: ");
  ASSERT_NE(done, std::string::npos) << train.show();
  const double val_loss = number_after(train.out.substr(done), "val loss ");
  const double val_accuracy = number_after(train.out.substr(done), "val accuracy ");

  const CliRun eval = ok({"eval", path("t.onnx"), path("data"), "--batch-size", "8"});
  EXPECT_HAS(eval.out, path("t.onnx") + " on " + path("data") + " (validation split): loss ");
  EXPECT_HAS(eval.out, ", 20 samples");
  EXPECT_NEAR(number_after(eval.out, "loss "), val_loss, 2e-4) << eval.out << train.out;
  EXPECT_NEAR(number_after(eval.out, "accuracy "), val_accuracy, 1e-2) << eval.out << train.out;

  // Without a validation split, eval reads all the data.
  const Samples s = separable(12, 3);
  write_file(path("flat/x.npy"), x_npy(s));
  write_file(path("flat/label.npy"), y_npy(s));
  const CliRun all = ok({"eval", model, path("flat")});
  EXPECT_HAS(all.out, "(all data): loss ");
  EXPECT_HAS(all.out, "of 12), 12 samples");
}

TEST_F(Cli, InspectListsInputsOutputsParametersAndOps) {
  const std::string model = make_mlp(path("mlp.onnx"), true);
  const CliRun r = ok({"inspect", model, "--freeze", "^fc1\\."});
  EXPECT_HAS(r.out, "model " + model);
  const std::string out = r.out;
  auto line_with = [&](const std::string& part) {
    const size_t at = out.find(part);
    if (at == std::string::npos) return std::string("(none)");
    const size_t begin = out.rfind('\n', at) + 1;
    return out.substr(begin, out.find('\n', at) - begin);
  };
  EXPECT_HAS(out, "inputs:\n  x ");
  EXPECT_HAS(line_with("  x "), "float32[N, 4]");
  EXPECT_HAS(out, "outputs:\n  logits ");
  EXPECT_HAS(line_with("fc1.weight"), "frozen");
  EXPECT_HAS(line_with("fc1.weight"), "32");
  EXPECT_HAS(line_with("fc2.weight"), "trainable");
  EXPECT_HAS(line_with("bn.weight"), "trainable");
  EXPECT_HAS(line_with("bn.running_mean"), "not trained");
  EXPECT_HAS(line_with("fc2.weight"), "float32[3, 8]");
  // 24 + 3 (fc2) + 8 + 8 (bn scale and shift) of 32 + 8 + 24 + 3 + 4 * 8 + 1 values.
  EXPECT_HAS(out, "43 of 100 values trainable");
  EXPECT_HAS(line_with("  Gemm "), "kernel | gradient rule");
  EXPECT_HAS(line_with("  Gemm "), " 2 ");
  EXPECT_HAS(line_with("  BatchNormalization "), "kernel | gradient rule");
  EXPECT_HAS(line_with("  Dropout "), "kernel |");
  EXPECT_LACKS(out, "cannot run");

  // A model with an op that has no kernel is explained, and the exit status says so.
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.node("NoSuchOp", {"x"}, {"y"}, "com.example");
  m.opset_import("com.example", 1);
  m.output("y", onnx::TensorProto::FLOAT, {-1, 4});
  m.save(path("odd.onnx"));
  const CliRun odd = run({"inspect", path("odd.onnx")});
  EXPECT_NE(odd.code, 0) << odd.show();
  EXPECT_HAS(odd.out + odd.err, "NoSuchOp");
}

TEST_F(Cli, GraphWritesTheTrainingGraph) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  const CliRun r = ok({"graph", model, "-o", path("training.onnx")});
  EXPECT_HAS(r.out, "wrote " + path("training.onnx") + ": the training graph of " + model);
  EXPECT_HAS(r.out, "4 parameter gradients");
  const onnx::ModelProto g = load_proto(path("training.onnx"));
  EXPECT_GT(g.graph().node_size(), 3);  // forward (3 nodes), the loss and the backward graph
  std::set<std::string> inputs, outputs;
  for (const auto& v : g.graph().input()) inputs.insert(v.name());
  for (const auto& v : g.graph().output()) outputs.insert(v.name());
  EXPECT_TRUE(inputs.count("x") && inputs.count("label")) << joined(inputs);
  EXPECT_GE(outputs.size(), 5u) << joined(outputs);  // the loss and 4 gradients
  fails({"graph", model}, {"graph needs -o PATH"});
}

// ---- Transfer learning

TEST_F(Cli, NumClassesReplacesTheHeadAndFreezeKeepsTheBody) {
  const std::string model = make_mlp(path("mlp.onnx"), false, /*unused_values=*/0, /*classes=*/3);
  write_npy_data(path("data"), separable(40, 1, /*classes=*/5), 20, 1, /*classes=*/5);
  const CliRun r = ok({model, path("data"), "--num-classes", "5", "--freeze", "^fc1\\.", "--batch-size", "8",
                       "--epochs", "3", "--lr", "0.05", "-o", path("five.onnx")});
  EXPECT_GE(number_after(r.out.substr(r.out.find("done: ")), "val accuracy "), 60.0) << r.out;
  Session s = Session::from_file(path("five.onnx"));
  ASSERT_EQ(s.outputs().size(), 1u);
  EXPECT_EQ(s.outputs()[0].name, "logits");
  const auto out = s.run({{"x", Tensor::from<float>({2, 4}, std::vector<float>(8, 0.5f))}});
  EXPECT_EQ(out.at(0).describe(), "float32[2, 5]");
  const auto before = initializers_of(model), after = initializers_of(path("five.onnx"));
  ASSERT_TRUE(after.count("fc1.weight") && after.count("fc1.bias"));
  EXPECT_EQ(after.at("fc1.weight").to_doubles(), before.at("fc1.weight").to_doubles());  // frozen
  EXPECT_EQ(after.at("fc1.bias").to_doubles(), before.at("fc1.bias").to_doubles());
  bool head = false;
  for (const auto& [name, t] : after) head |= t.numel() == 40;  // the new 5 x 8 layer
  EXPECT_TRUE(head);

  // Without --num-classes, labels 3 and 4 do not fit the 3-class head: the message says what does.
  fails({model, path("data"), "--batch-size", "8", "-o", path("three.onnx")},
        {"outside [0, 3)", path("data/"), "pass --num-classes 5"});
}

// ---- Bad input: one message naming the file and the problem, non-zero exit, nothing written

class CliBadInput : public Cli {
 protected:
  void SetUp() override {
    Cli::SetUp();
    model_ = make_mlp(path("mlp.onnx"), false);
  }
  // Training on DATA must fail saying `says`.
  CliRun train_fails(const std::string& data, const std::vector<std::string>& says,
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {model_, data, "--batch-size", "8", "-o", work_ + "/out.onnx"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun r = fails(args, says);
    EXPECT_FALSE(fs::exists(work_ + "/out.onnx"));
    return r;
  }
  std::string model_;
};

TEST_F(CliBadInput, NoDataForAModelInput) {
  const Samples s = separable(16, 1);
  write_file(path("data/features.npy"), x_npy(s));
  write_file(path("data/label.npy"), y_npy(s));
  train_fails(path("data"), {path("data"), "no x.npy", "'x'"});
}

TEST_F(CliBadInput, WrongShape) {
  const Samples s = separable(16, 1);
  std::vector<float> five(16 * 5, 0.5f);
  write_file(path("data/x.npy"), npy("<f4", {16, 5}, bytes_of(five)));
  write_file(path("data/label.npy"), y_npy(s));
  train_fails(path("data"), {path("data/x.npy"), "field 'x' takes samples of shape [4]", "shape [5]"});
}

TEST_F(CliBadInput, FloatLabelsForCrossEntropy) {
  const Samples s = separable(16, 1);
  std::vector<float> labels(16, 0.f);
  labels[3] = 0.5f;
  write_file(path("data/x.npy"), x_npy(s));
  write_file(path("data/label.npy"), npy("<f4", {16}, bytes_of(labels)));
  train_fails(path("data"), {path("data/label.npy"), "sample 3", "0.5", "not a int64 value"});
}

TEST_F(CliBadInput, UnsupportedElementType) {
  const Samples s = separable(16, 1);
  write_file(path("data/x.npy"), npy("<c8", {16, 4}, std::string(16 * 4 * 8, '\0')));
  write_file(path("data/label.npy"), y_npy(s));
  train_fails(path("data"), {path("data/x.npy"), "'<c8' is not supported"});
}

TEST_F(CliBadInput, LabelsOutsideTheClassCount) {
  Samples s = separable(32, 1);
  s.y[29] = 7;  // in the fourth batch: caught before anything is exported
  write_file(path("data/x.npy"), x_npy(s));
  write_file(path("data/label.npy"), y_npy(s));
  train_fails(path("data"), {path("data/label.npy") + ", sample 29", "class label 7", "outside [0, 3)"},
              {"--no-shuffle"});
}

TEST_F(CliBadInput, NanInTheData) {
  Samples s = separable(32, 1);
  s.x[4 * 21 + 2] = NAN;
  write_file(path("data/x.npy"), x_npy(s));
  write_file(path("data/label.npy"), y_npy(s));
  train_fails(path("data"), {path("data/x.npy") + ", sample 21", "holds nan"});
}

TEST_F(CliBadInput, InfInTheValidationData) {
  write_npy_data(path("data"), separable(16, 1));
  Samples v = separable(8, 2);
  v.x[5] = INFINITY;
  write_file(path("data/val/x.npy"), x_npy(v));
  write_file(path("data/val/label.npy"), y_npy(v));
  train_fails(path("data"), {path("data/val/x.npy") + ", sample 1", "holds inf"});
}

TEST_F(CliBadInput, EmptyFolder) {
  fs::create_directories(path("data"));
  train_fails(path("data"), {path("data") + ": the data folder is empty"});
  fs::create_directories(path("data2/train"));
  train_fails(path("data2"), {path("data2/train"), "holds no file in a known format", "it holds nothing"});
}

TEST_F(CliBadInput, MissingFolderOrAFile) {
  train_fails(path("nowhere"), {path("nowhere") + ": no such folder"});
  // One file is data when it is in a known format (data_mapping_test.cc); notes are not.
  write_file(path("notes.txt"), "a,label\n1,0\n");
  train_fails(path("notes.txt"), {path("notes.txt") + ": not data in a known format"});
}

TEST_F(CliBadInput, UnknownFormat) {
  write_file(path("data/README.md"), "my data\n");
  write_file(path("data/weights.bin"), "\x01\x02\x03");
  train_fails(path("data"), {path("data"), "no file in a known format", "README.md, weights.bin"});
}

TEST_F(CliBadInput, UnreadableFile) {
  const Samples s = separable(16, 1);
  write_file(path("data/x.npy"), x_npy(s));
  write_file(path("data/label.npy"), y_npy(s));
  if (geteuid() != 0) {  // root reads any file, whatever its mode
    fs::permissions(path("data/x.npy"), fs::perms::none);
    train_fails(path("data"), {path("data/x.npy")});
    fs::permissions(path("data/x.npy"), fs::perms::owner_read | fs::perms::owner_write);
  }
  // A folder where a file should be: not data, so the field is missing.
  fs::remove(path("data/x.npy"));
  fs::create_directories(path("data/x.npy"));
  train_fails(path("data"), {path("data"), "x"});
}

TEST_F(CliBadInput, TruncatedNpy) {
  const Samples s = separable(16, 1);
  const std::string x = x_npy(s);
  write_file(path("data/x.npy"), x.substr(0, x.size() - 10));
  write_file(path("data/label.npy"), y_npy(s));
  train_fails(path("data"), {path("data/x.npy"), "truncated"});
}

TEST_F(CliBadInput, CorruptNpzAndGzip) {
  write_file(path("npz/data.npz"), "PK\x03\x04 this is not a whole zip archive");
  train_fails(path("npz"), {path("npz/data.npz"), "not a valid .npz"});
  write_idx_data(path("idx"), /*gz=*/true);
  const std::string gz = read_file(path("idx/train-images-idx3-ubyte.gz"));
  write_file(path("idx/train-images-idx3-ubyte.gz"), gz.substr(0, gz.size() / 2));
  train_fails(path("idx"), {path("idx/train-images-idx3-ubyte.gz")});
}

TEST_F(CliBadInput, CorruptImage) {
  const std::string model = make_image_model(path("images.onnx"));
  write_image_split(path("data/train"), 4, 1);
  write_file(path("data/train/b_bright/broken.png"), "\x89PNG\r\n\x1a\n but then nothing of a picture");
  fails({model, path("data"), "--batch-size", "4", "-o", work_ + "/out.onnx"},
        {path("data/train/b_bright/broken.png")});
  EXPECT_FALSE(fs::exists(work_ + "/out.onnx"));
}

TEST_F(CliBadInput, LearningRateSoHighTheLossBecomesNan) {
  write_npy_data(path("data"), separable(64, 1));
  const CliRun r = run({model_, path("data"), "--batch-size", "8", "--lr", "1e30", "--checkpoint-dir", path("ck"),
                        "--checkpoint-every", "1", "-o", work_ + "/out.onnx", "--log", path("log.jsonl")});
  EXPECT_NE(r.code, 0) << r.show();
  EXPECT_LT(r.code, 128) << r.show();
  EXPECT_EQ(count_of(r.err, "onnx-train: error: "), 1) << r.show();
  EXPECT_TRUE(r.err.find("loss is nan") != std::string::npos || r.err.find("loss is inf") != std::string::npos)
      << r.show();
  EXPECT_HAS(r.err, "learning rate");
  EXPECT_FALSE(fs::exists(work_ + "/out.onnx"));
  // The checkpoints are kept; the only one holds the weights of the ruinous first update (the
  // next step's loss is NaN), so the message does not offer it but says to start again.
  const std::set<std::string> kept = tree(path("ck"));
  ASSERT_FALSE(kept.empty()) << r.show();
  EXPECT_LACKS(r.err, "--resume=");
  EXPECT_HAS(r.err, "every checkpoint in " + path("ck") + " holds weights that had already diverged");
  // The log says why it stopped, and every line of it is whole.
  const std::string log = read_file(path("log.jsonl"));
  EXPECT_HAS(log, "\"stopped\"");
  for (const auto& line : lines_of(log)) parse_json_object(line);
  // Without --checkpoint-dir the message says there is none.
  const CliRun bare = run({model_, path("data"), "--batch-size", "8", "--lr", "1e30", "-o", work_ + "/out.onnx"});
  EXPECT_NE(bare.code, 0);
  EXPECT_HAS(bare.err, "no checkpoint was written");
}

TEST_F(CliBadInput, UnknownFlag) {
  write_npy_data(path("data"), separable(16, 1));
  fails({model_, path("data"), "--bogus"}, {"unknown option '--bogus'", "--help"});
  fails({model_, path("data"), "--learning-rate=0.1"}, {"unknown option '--learning-rate'"});
  const CliRun first = run({"--bogus"});
  EXPECT_NE(first.code, 0);
  EXPECT_HAS(first.err, "unknown option '--bogus'");
  fails({model_, path("data"), "--quiet=yes"}, {"--quiet takes no value"});
}

TEST_F(CliBadInput, MissingOrMalformedValues) {
  write_npy_data(path("data"), separable(16, 1));
  fails({model_, path("data"), "--lr"}, {"--lr needs a value"});
  fails({model_, path("data"), "--batch-size"}, {"--batch-size needs a value"});
  fails({model_, path("data"), "--epochs", "-o", "x.onnx"}, {"--epochs takes a whole number of at least 1, got '-o'"});
  fails({model_, path("data"), "--lr", "fast"}, {"--lr takes a number, got 'fast'"});
  fails({model_, path("data"), "--batch-size", "0"}, {"--batch-size takes a whole number of at least 1, got '0'"});
  fails({model_, path("data"), "--val-split", "1.5"}, {"--val-split takes a fraction between 0 and 1"});
  fails({model_, path("data"), "--betas", "0.9"}, {"--betas takes two numbers"});
  fails({model_, path("data"), "--optimizer", "adamax"}, {"adamax"});
  fails({model_, path("data"), "--loss", "hinge"}, {"hinge"});
  fails({model_}, {"expected MODEL.onnx and DATA_DIR"});
  fails({"export", path("nothing.ckpt")}, {"export needs -o PATH"});
}

TEST_F(CliBadInput, MissingOrBrokenModel) {
  write_npy_data(path("data"), separable(16, 1));
  fails({path("no-such-model.onnx"), path("data")}, {path("no-such-model.onnx"), "no such file"});
  write_file(path("broken.onnx"), "this is not a protobuf at all \xff\xff\xff");
  fails({path("broken.onnx"), path("data")}, {path("broken.onnx")});
  fails({"export", path("no.ckpt"), "-o", work_ + "/out.onnx"}, {path("no.ckpt")});
}

// ---- Ctrl-C

struct Interrupted {
  std::string out, checkpoint;
  int64_t step = 0;
};

// Starts a long training run, sends it SIGINT (as Ctrl-C does) once its log shows a step,
// and checks that it saved a checkpoint and exited cleanly with 130, writing no model.
Interrupted interrupt(Cli& test, std::vector<std::string> args) {
  for (const char* a : {"--log", "interrupted.jsonl", "-o", "interrupted.onnx"}) args.push_back(a);
  const std::string log = test.work_ + "/interrupted.jsonl";
  fs::remove(log);
  const pid_t pid = test.start(args);
  EXPECT_GT(pid, 0);
  // Training has started once the log has its first step.
  wait_until([&] { return read_file(log).find("\"loss\"") != std::string::npos; }, 60);
  kill(pid, SIGINT);
  const CliRun run = test.finish(pid, 60);
  Interrupted result;
  result.out = run.out;
  EXPECT_EQ(run.code, 130) << "$ " << run.command << "\n" << result.out << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_FALSE(fs::exists(test.work_ + "/interrupted.onnx"));
  std::smatch m;
  if (!std::regex_search(result.out, m, std::regex("interrupted: saved (\\S+) at step ([0-9]+)"))) {
    ADD_FAILURE() << "no 'interrupted: saved CHECKPOINT at step N' in:\n" << result.out;
    return result;
  }
  result.checkpoint = m[1];
  result.step = std::stoll(m[2]);
  EXPECT_HAS(result.out, "--resume=" + result.checkpoint);
  EXPECT_GT(result.step, 0);
  return result;
}

TEST_F(Cli, CtrlCSavesACheckpointAndResumeFinishesAsUninterrupted) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(2000, 1));  // 250 batches an epoch, 400 epochs: it runs until interrupted
  const std::vector<std::string> common = {model, path("data"), "--batch-size", "8", "--epochs", "400", "--seed", "4"};
  const Interrupted i = interrupt(*this, plus(common, {"--checkpoint-dir", path("ck")}));
  ASSERT_FALSE(i.checkpoint.empty());
  EXPECT_TRUE(fs::exists(i.checkpoint)) << i.out;
  EXPECT_EQ(fs::path(i.checkpoint).parent_path(), fs::path(path("ck")));

  // --resume (the newest checkpoint of --checkpoint-dir) finishes, a few steps more, with the
  // weights of a run that was never interrupted.
  const std::string target = std::to_string(i.step + 5);
  const CliRun b =
      ok(plus(common, {"--checkpoint-dir", path("ck"), "--resume", "--max-steps", target, "-o", path("resumed.onnx")}));
  EXPECT_HAS(b.out, "resumed from " + i.checkpoint + ": step " + std::to_string(i.step));
  EXPECT_HAS(b.out, "done: " + target + " steps");
  ok(plus(common, {"--max-steps", target, "-o", path("straight.onnx")}));
  ASSERT_TRUE(fs::exists(path("resumed.onnx")) && fs::exists(path("straight.onnx")));
  EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("straight.onnx")))
      << "interrupted at step " << i.step << " and resumed to step " << target
      << ", the model differs from a run straight to step " << target;
}

// Without --checkpoint-dir the checkpoint lands in the current folder; with --accumulate the
// interrupted accumulation is dropped and redone on resuming.
TEST_F(Cli, CtrlCWithoutCheckpointDirAndWithAccumulation) {
  const std::string model = make_mlp(path("mlp.onnx"), true);
  write_npy_data(path("data"), separable(2000, 1));
  const std::vector<std::string> common = {model,    path("data"), "--batch-size", "8", "--epochs", "400",
                                           "--seed", "5",          "--accumulate", "2"};
  const Interrupted i = interrupt(*this, common);
  ASSERT_FALSE(i.checkpoint.empty());
  EXPECT_EQ(i.checkpoint, "mlp.interrupted.ckpt");
  EXPECT_TRUE(fs::exists(work_ + "/mlp.interrupted.ckpt")) << i.out;

  const std::string target = std::to_string(i.step + 3);
  const CliRun b =
      ok(plus(common, {"--resume", "mlp.interrupted.ckpt", "--max-steps", target, "-o", path("resumed.onnx")}));
  EXPECT_HAS(b.out, "done: " + target + " steps");
  ok(plus(common, {"--max-steps", target, "-o", path("straight.onnx")}));
  ASSERT_TRUE(fs::exists(path("resumed.onnx")) && fs::exists(path("straight.onnx")));
  EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("straight.onnx")))
      << "interrupted at step " << i.step << " and resumed to step " << target
      << ", the model differs from a run straight to step " << target;
}

// ---- ONNX Runtime

class CliOnnxRuntime : public Cli {
 protected:
  // Runs `model` on `input` in onnx_train::Session and in ONNX Runtime; the first outputs agree.
  void expect_same_in_ort(const std::string& model, const Tensor& input) {
    const std::string node = find_node();
    ASSERT_FALSE(node.empty()) << "no `node` on PATH. " << kOrtInstall;
    const auto check = shell(sh_quote(node) + " " + sh_quote(kOrtScript) + " --check");
    ASSERT_EQ(check.first, 0) << check.second << "\n" << kOrtInstall;

    Session session = Session::from_file(model);
    const std::vector<Tensor> outputs = session.run({{session.inputs().at(0).name, input}});
    ASSERT_EQ(outputs.at(0).dtype(), DType::Float32);
    const auto compared = compare_in_ort(node, model, input, outputs[0], "1e-4", root_);
    EXPECT_EQ(compared.first, 0) << compared.second;
    EXPECT_HAS(compared.second, "max abs diff");
  }

  static Tensor random_input(const Shape& shape, unsigned seed) {
    std::mt19937 rng(seed);
    return random_tensor(shape, rng, 1.0f);
  }
};

TEST_F(CliOnnxRuntime, TrainedMlpWithBatchNormAndDropoutMatches) {
  const std::string model = make_mlp(path("mlp.onnx"), true);
  write_npy_data(path("data"), separable(40, 1));
  ok({model, path("data"), "--batch-size", "8", "--epochs", "2", "--lr", "0.05", "-o", path("trained.onnx")});
  expect_same_in_ort(path("trained.onnx"), random_input({5, 4}, 1));
}

TEST_F(CliOnnxRuntime, TrainedResidualConvBlockMatches) {
  // Conv, BatchNormalization (its running statistics updated by training), residual add,
  // global pooling; fixed batch 6.
  const std::string model = kParityDir + "/resnet_block/model.onnx";
  std::vector<float> x(12 * 3 * 8 * 8);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (auto& v : x) v = normal(rng);
  std::vector<int64_t> y(12);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int64_t>(i % 4);
  write_file(path("data/x.npy"), npy("<f4", {12, 3, 8, 8}, bytes_of(x)));
  write_file(path("data/label.npy"), npy("<i8", {12}, bytes_of(y)));
  ok({model, path("data"), "--batch-size", "6", "--epochs", "2", "--lr", "0.01", "-o", path("trained.onnx")});
  const auto before = initializers_of(model), after = initializers_of(path("trained.onnx"));
  bool statistics_changed = false;
  for (const auto& [name, t] : after) {
    if (name.find("running_mean") != std::string::npos && before.count(name))
      statistics_changed |= t.to_doubles() != before.at(name).to_doubles();
  }
  EXPECT_TRUE(statistics_changed);
  expect_same_in_ort(path("trained.onnx"), random_input({6, 3, 8, 8}, 2));
}

TEST_F(CliOnnxRuntime, TrainedCnnMatches) {
  const std::string model = kParityDir + "/cnn/model.onnx";  // fixed batch 8, [1, 12, 12], 10 classes
  std::vector<float> x(16 * 144);
  std::mt19937 rng(6);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (auto& v : x) v = normal(rng);
  std::vector<int64_t> y(16);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int64_t>(i % 10);
  write_file(path("data/x.npy"), npy("<f4", {16, 1, 12, 12}, bytes_of(x)));
  write_file(path("data/label.npy"), npy("<i8", {16}, bytes_of(y)));
  ok({model, path("data"), "--batch-size", "8", "--epochs", "2", "--optimizer", "sgd", "--lr", "0.05", "-o",
      path("trained.onnx")});
  expect_same_in_ort(path("trained.onnx"), random_input({8, 1, 12, 12}, 3));
}

}  // namespace
}  // namespace onnx_train::cli_test
