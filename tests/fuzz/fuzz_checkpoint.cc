// Fuzz target: the bytes are a checkpoint file, read the way `onnx-train train --resume` and
// `onnx-train export CHECKPOINT` read one: its metadata alone (read_checkpoint_metadata, how
// the CLI finds the model a checkpoint belongs to), then loaded into a training session of a
// small model (an MLP, AdamW, built once) and, when it loads, one training step. A failed load
// must leave the session as it was. onnx_train::Error is expected; anything else escaping, a
// crash or a sanitizer report is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "onnx_train/error.h"
#include "onnx_train/training_session.h"
#include "tests/fuzz/fuzz_feeds.h"
#include "tests/fuzz/scratch_file.h"

namespace {

std::unique_ptr<onnx_train::TrainingSession> session;
std::map<std::string, onnx_train::Tensor> feeds;
std::string pristine;  // the session's state at start, restored after an input that loaded

}  // namespace

namespace {

// With ONNX_TRAIN_FUZZ_WRITE_CHECKPOINTS=DIR the program writes the seed checkpoints
// (tests/fuzz/make_seeds.py) and exits: the session's after 1 and 3 steps, and one of SGD with
// momentum (other optimizer state, which this session refuses).
void write_seed_checkpoints(const std::string& model, const std::string& dir) {
  std::map<std::string, onnx_train::Tensor> batch = feeds;
  for (auto& [name, t] : batch)
    if (t.dtype() == onnx_train::DType::Float32)
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>((i * 7919) % 13) / 6 - 1;
  session->train_step(batch);
  session->save_checkpoint(dir + "/mlp_adamw_step1.ckpt", {{"epoch", "0"}, {"batches_done", "1"}});
  session->train_step(batch);
  session->train_step(batch);
  session->save_checkpoint(dir + "/mlp_adamw_step3.ckpt", {{"epoch", "1"}, {"batches_done", "3"}});
  onnx_train::TrainingOptions sgd;
  sgd.optimizer.kind = "sgd";
  sgd.optimizer.momentum = 0.9;
  auto other = onnx_train::TrainingSession::from_file(model, sgd);
  other.train_step(batch);
  other.save_checkpoint(dir + "/mlp_sgd_momentum_step1.ckpt");
  std::exit(0);
}

}  // namespace

// The model the committed seeds were saved from.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string model = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/train_parity/mlp/model.onnx";
  session = std::make_unique<onnx_train::TrainingSession>(onnx_train::TrainingSession::from_file(model));
  feeds = *fuzz::zero_feeds(session->inputs());
  if (const char* dir = std::getenv("ONNX_TRAIN_FUZZ_WRITE_CHECKPOINTS")) write_seed_checkpoints(model, dir);
  pristine = fuzz::scratch_dir() + "/pristine.ckpt";
  session->save_checkpoint(pristine);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("run.ckpt", data, size);
  try {
    onnx_train::TrainingSession::read_checkpoint_metadata(path);
  } catch (const onnx_train::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_checkpoint: metadata: escaped %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  try {
    session->load_checkpoint(path);
    try {
      session->train_step(feeds);
    } catch (const onnx_train::Error&) {
    }
    session->load_checkpoint(pristine);  // the next input starts from the same state
  } catch (const onnx_train::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_checkpoint: escaped %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}
