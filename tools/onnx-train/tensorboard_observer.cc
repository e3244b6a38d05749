// tools/onnx-train/tensorboard_observer.cc: the --tensorboard event file of a training run
// (tensorboard_observer.h).
#include "tools/onnx-train/tensorboard_observer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <vector>

#include "onnx_train/error.h"

namespace onnx_train::cli {

namespace fs = std::filesystem;

std::string plan_event_file(const std::string& dir, CreatedFolders& folders) {
  std::error_code ec;
  OT_CHECK(!fs::exists(dir, ec) || fs::is_directory(dir, ec),
           "--tensorboard {}: exists and is not a folder; give the folder to write event files in", dir);
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "localhost");
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string base = (fs::path(dir) / fmt::format("events.out.tfevents.{}.{}", seconds, host)).string();
  std::string path = base;
  for (int n = 1; fs::exists(path, ec); ++n) path = fmt::format("{}.{}", base, n);
  check_output_file("--tensorboard", path, folders);
  return path;
}

void TensorBoardObserver::on_step(const StepEvent& event) {
  const StepResult& r = event.result;
  std::vector<Scalar> scalars = {{"train/loss", static_cast<float>(r.loss)},
                                 {"train/lr", static_cast<float>(r.learning_rate)}};
  if (r.grad_norm) scalars.emplace_back("train/grad_norm", static_cast<float>(*r.grad_norm));
  events_.write_scalars(r.step, scalars);
}

void TensorBoardObserver::on_validation(const ValidationEvent& event) {
  std::vector<Scalar> scalars = {{"val/loss", static_cast<float>(event.totals.loss())}};
  if (event.totals.accuracy() >= 0) scalars.emplace_back("val/accuracy", static_cast<float>(event.totals.accuracy()));
  events_.write_scalars(event.step, scalars);
}

}  // namespace onnx_train::cli
