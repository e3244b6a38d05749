// Damaged model files must end in one onnx_train::Error, never a crash or another exception.
// Each case truncates or flips bytes of a real model (fixed seeds, so a failure reproduces).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "onnx_train/session.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Loads `bytes` as a model and, if it loads, runs it on zeros: only Error may come out.
void expect_error_or_success(const std::string& dir, const std::string& bytes, const std::string& what) {
  const std::string path = dir + "/model.onnx";
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  try {
    Session s = Session::from_file(path);
    std::map<std::string, Tensor> feeds;
    for (const auto& spec : s.inputs()) {
      if (!spec.rank_known || spec.dtype == DType::Undefined || !dtype_is_supported(spec.dtype)) return;
      Shape shape = spec.shape;
      for (auto& d : shape) d = d < 0 ? 1 : std::min<int64_t>(d, 64);
      feeds[spec.name] = Tensor(spec.dtype, shape);
    }
    s.run(feeds);
  } catch (const Error&) {
    // the expected outcome for most damage
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": a " << typeid(e).name() << " escaped instead of onnx_train::Error: " << e.what();
  }
}

TEST(CorruptModel, TruncatedAndBitFlippedFilesGiveErrors) {
  const std::string root = std::string(ONNX_TRAIN_SOURCE_DIR);
  const std::vector<std::string> models = {root + "/models/fashion_cnn/model.onnx",
                                           root + "/tests/data/torch_parity/lstm/model.onnx",
                                           root + "/tests/data/torch_parity/bert_like/model.onnx"};
  testing::TempDir dir;
  for (const auto& model : models) {
    const std::string original = read_file(model);
    ASSERT_FALSE(original.empty()) << model;
    std::mt19937 gen(1234);
    for (int i = 0; i < 20; ++i) {
      const size_t cut = std::uniform_int_distribution<size_t>(0, original.size() - 1)(gen);
      expect_error_or_success(dir.path(), original.substr(0, cut), model + " truncated at " + std::to_string(cut));
    }
    for (int i = 0; i < 200; ++i) {
      std::string damaged = original;
      // Damage the graph structure (the first few KB hold nodes and attributes), not only weights.
      const size_t span = std::min<size_t>(damaged.size(), 4096);
      for (int k = 0; k < 4; ++k) {
        const size_t at = std::uniform_int_distribution<size_t>(0, span - 1)(gen);
        damaged[at] = static_cast<char>(damaged[at] ^ (1 << std::uniform_int_distribution<int>(0, 7)(gen)));
      }
      expect_error_or_success(dir.path(), damaged, model + " with flipped bits, case " + std::to_string(i));
    }
  }
}

}  // namespace
}  // namespace onnx_train
