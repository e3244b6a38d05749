// Parity with PyTorch on models exported by torch.onnx.export (fixtures made by
// tests/data/make_torch_parity.py and models/fashion_cnn/make_model.py).
//
// Tolerance: rtol 1e-3 as ONNX's runner, atol 1e-5 since deep float32 stacks in two
// libraries accumulate in different orders.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "onnx_train/session.h"
#include "tests/support/onnx_test_case.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;

// ONNX_TRAIN_PARITY_DIR points the test at another folder of cases in the same layout
// (large exported models one does not commit, say).
const std::string kParityDir = std::getenv("ONNX_TRAIN_PARITY_DIR") != nullptr
                                   ? std::getenv("ONNX_TRAIN_PARITY_DIR")
                                   : std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/torch_parity";
const testing::Tolerance kTolerance{1e-3, 1e-5};

std::vector<std::string> parity_cases() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kParityDir))
    if (fs::exists(e.path() / "model.onnx")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class TorchParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchParity, MatchesPyTorch) {
  const testing::CaseResult result = testing::run_test_case(kParityDir + "/" + GetParam(), kTolerance);
  EXPECT_EQ(result.status, testing::CaseResult::Status::Passed) << result.message;
}

// The same model run on one example of the batch gives that example's row: the dynamic
// batch dimension is really dynamic.
TEST_P(TorchParity, SmallerBatchGivesTheSameRows) {
  const std::string dir = kParityDir + "/" + GetParam();
  const auto inputs = testing::numbered_files(dir + "/test_data_set_0", "input_");
  const auto outputs = testing::numbered_files(dir + "/test_data_set_0", "output_");
  Session session = Session::from_file(dir + "/model.onnx");
  if (session.inputs().empty() || session.inputs()[0].shape.empty() || session.inputs()[0].shape[0] >= 0)
    GTEST_SKIP() << "no dynamic batch dimension";
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor full = read_tensor_file(inputs[i]);
    Shape row_shape = full.shape();
    row_shape[0] = 1;
    Tensor row(full.dtype(), row_shape);
    std::memcpy(row.raw_data(), full.raw_data(), row.nbytes());
    feeds[session.inputs()[i].name] = row;
  }
  const auto got = session.run(feeds);
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor full = read_tensor_file(outputs[i]);
    if (full.rank() == 0) continue;  // a reduced loss is not per-row
    Shape row_shape = full.shape();
    row_shape[0] = 1;
    Tensor expected(full.dtype(), row_shape);
    std::memcpy(expected.raw_data(), full.raw_data(), expected.nbytes());
    EXPECT_EQ(testing::compare_tensors(expected, got[i], kTolerance), "") << "output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, TorchParity, ::testing::ValuesIn(parity_cases()),
                         [](const auto& info) { return info.param; });

TEST(BundledModel, FashionCnnMatchesPyTorch) {
  const std::string dir = std::string(ONNX_TRAIN_SOURCE_DIR) + "/models/fashion_cnn";
  Session session = Session::from_file(dir + "/model.onnx");
  const auto out = session.run({{"input", read_tensor_file(dir + "/sample_input.pb")}});
  EXPECT_EQ(testing::compare_tensors(read_tensor_file(dir + "/sample_output.pb"), out[0], kTolerance), "");
}

}  // namespace
}  // namespace onnx_train
