// Models of the op versions that opsets 18 to 23 introduced, against ONNX Runtime: every folder of
// tests/data/opset_new/ (made by tests/data/make_opset_new.py from tests/data/opset_new_cases/*.py,
// with onnxruntime-node's outputs) loads through load_onnx_model, which lowers it to opset 17,
// and its outputs match ONNX Runtime's within the case's tolerance (the folder's tolerance.txt).
// A failure names the folder and the largest difference; the count of cases, by opset, is printed
// as "opset 18-23 cases: N passed, N failed". ONNX_TRAIN_OPSET_NEW_FILTER=substring runs only the
// folders whose name holds it.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "importers/onnx_model.h"
#include "importers/proto_io.h"
#include "onnx_train/session.h"
#include "tests/support/expect_text.h"
#include "tests/support/model_builder.h"
#include "tests/support/onnx_test_case.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;

const std::string kCases = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/opset_new";

// The case folders, sorted by name (those whose name holds ONNX_TRAIN_OPSET_NEW_FILTER).
std::vector<std::string> case_folders() {
  const char* filter = std::getenv("ONNX_TRAIN_OPSET_NEW_FILTER");
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(kCases)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && (filter == nullptr || name.find(filter) != std::string::npos)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The folder's tolerance.txt ("rtol R" and "atol A" lines); throws when it is missing or incomplete.
testing::Tolerance tolerance_of(const std::string& dir) {
  std::ifstream in(dir + "/tolerance.txt");
  if (!in) throw std::runtime_error(dir + "/tolerance.txt: missing (make_opset_new.py writes it)");
  std::map<std::string, double> values;
  std::string key;
  for (double value; in >> key >> value;) values[key] = value;
  if (!values.count("rtol") || !values.count("atol"))
    throw std::runtime_error(dir + "/tolerance.txt: needs an 'rtol' and an 'atol' line");
  return {values["rtol"], values["atol"]};
}

// The default-domain opset model.onnx imports (0 when it imports none).
int opset_of(const std::string& model_path) {
  onnx::ModelProto model;
  parse_proto_file(model_path, model, "ONNX model");
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") return static_cast<int>(op.version());
  return 0;
}

struct Outcome {
  bool passed = false;
  int opset = 0;
  std::string message;  // what failed
};

Outcome check_folder(const std::string& dir) {
  Outcome out;
  try {
    out.opset = opset_of(dir + "/model.onnx");
    if (out.opset < 18 || out.opset > 23) {
      out.message = "model.onnx imports opset " + std::to_string(out.opset) + ", not one of 18-23";
      return out;
    }
    const testing::CaseResult r = testing::run_test_case(dir, tolerance_of(dir));
    out.passed = r.status == testing::CaseResult::Status::Passed;
    // A skip (the inputs contradict the model's declared shapes) is a broken fixture here.
    out.message = r.message;
  } catch (const std::exception& e) {
    out.message = e.what();
  }
  return out;
}

TEST(OpsetNew, EveryCaseMatchesOnnxRuntime) {
  const std::vector<std::string> names = case_folders();
  ASSERT_FALSE(names.empty()) << "no case folder in " << kCases;
  int passed = 0, failed = 0;
  std::map<int, std::pair<int, int>> by_opset;  // opset -> (passed, failed)
  for (const auto& name : names) {
    const Outcome o = check_folder(kCases + "/" + name);
    (o.passed ? passed : failed) += 1;
    (o.passed ? by_opset[o.opset].first : by_opset[o.opset].second) += 1;
    std::cout << (o.passed ? "PASSED " : "FAILED ") << name << (o.passed ? "" : ": " + o.message) << "\n";
    if (!o.passed) ADD_FAILURE() << "tests/data/opset_new/" << name << ": " << o.message;
  }
  std::ostringstream split;
  for (const auto& [opset, counts] : by_opset)
    split << (split.tellp() > 0 ? ", " : "") << "opset " << opset << " " << counts.first << "/"
          << counts.first + counts.second;
  std::cout << "by opset: " << split.str() << "\n";
  std::cout << "opset 18-23 cases: " << passed << " passed, " << failed << " failed\n";
}

// Every folder is whole: the model, its tolerance, and one data set with inputs and ONNX
// Runtime's outputs.
TEST(OpsetNew, EveryFolderIsWhole) {
  for (const auto& name : case_folders()) {
    const std::string dir = kCases + "/" + name;
    EXPECT_TRUE(fs::exists(dir + "/model.onnx")) << name;
    EXPECT_TRUE(fs::exists(dir + "/tolerance.txt")) << name;
    ASSERT_TRUE(fs::is_directory(dir + "/test_data_set_0")) << name;
    EXPECT_FALSE(testing::numbered_files(dir + "/test_data_set_0", "input_").empty()) << name;
    EXPECT_FALSE(testing::numbered_files(dir + "/test_data_set_0", "output_").empty()) << name;
  }
}

// The comparison can fail: a case whose expected output is moved by 1e-2 in one element fails,
// naming that difference.
TEST(OpsetNew, AChangedExpectedOutputFails) {
  const std::string source = kCases + "/unchanged_relu_add_opset23";
  const fs::path copy = fs::temp_directory_path() / ("opset_new_test_" + std::to_string(::getpid()));
  fs::remove_all(copy);
  fs::copy(source, copy, fs::copy_options::recursive);
  const std::string output = (copy / "test_data_set_0" / "output_0.pb").string();
  onnx::TensorProto y;
  parse_proto_file(output, y, "tensor");
  ASSERT_EQ(y.data_type(), onnx::TensorProto::FLOAT);
  ASSERT_EQ(y.raw_data().size(), 24 * sizeof(float));  // opset_new_ort.js writes raw_data
  float value;
  std::memcpy(&value, y.raw_data().data() + 5 * sizeof(float), sizeof value);
  value += 0.01f;
  y.mutable_raw_data()->replace(5 * sizeof(float), sizeof value, reinterpret_cast<const char*>(&value), sizeof value);
  write_proto_file(y, output, "tensor");
  const Outcome o = check_folder(copy.string());
  fs::remove_all(copy);
  EXPECT_FALSE(o.passed);
  EXPECT_HAS(o.message, "1 of 24 values differ (largest difference 0.01");
  EXPECT_HAS(o.message, "first at flat index 5");
}

// A value of unknown type (the output of an op without a schema) read by a Shape node above a
// node being lowered: ONNX 1.12's data propagation through Shape would crash on it, so the
// shape inference of the lowering and of the load runs without it there: the model loads, and a
// session refuses it for the op it has no kernel for.
TEST(OpsetNew, AShapeOfAValueOfUnknownTypeIsRefusedWithoutACrash) {
  testing::ModelBuilder m(18);
  m.opset_import("com.example", 1);
  m.input("x", onnx::TensorProto::FLOAT, {2, 3});
  m.initializer("axes", Tensor::from<int64_t>({1}, {1}));
  m.node("Unknown", {"x"}, {"y"}, "com.example");
  m.node("Shape", {"y"}, {"s"});
  m.node("ReduceMean", {"x", "axes"}, {"m"});
  m.output("s", onnx::TensorProto::INT64, {2});
  m.output("m", onnx::TensorProto::FLOAT, {2, 1});
  const fs::path path = fs::temp_directory_path() / ("opset_new_unknown_" + std::to_string(::getpid()) + ".onnx");
  m.save(path.string());
  const Graph graph = load_onnx_model(path.string());  // loads: the graph holds the unknown op
  EXPECT_EQ(graph.nodes.size(), 3u);
  const std::string err = testing::error_of([&] { Session::from_file(path.string()); });
  fs::remove(path);
  EXPECT_HAS(err, "com.example");
  EXPECT_HAS(err, "Unknown");
}

}  // namespace
}  // namespace onnx_train
