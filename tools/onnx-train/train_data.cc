#include "tools/onnx-train/train_data.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "onnx_train/error.h"

namespace onnx_train::cli {

namespace {

// "2 bad samples:" and the first few, one a line (file and sample, what is wrong).
std::string bad_sample_list(const BadSampleLog& log) {
  constexpr size_t kListed = 10;
  const int64_t count = log.count();
  std::string out = fmt::format("{} bad sample{}:", count, count == 1 ? "" : "s");
  for (const BadSample& bad : log.first(kListed)) {
    const std::string problem = bad.problem.substr(0, bad.problem.find('\n'));
    out += "\n  " + (problem.rfind(bad.source, 0) == 0 ? problem : bad.source + ": " + problem);
  }
  if (count > static_cast<int64_t>(kListed))
    out += fmt::format("\n  and {} more", count - static_cast<int64_t>(kListed));
  return out;
}

}  // namespace

double check_budget_seconds() {
  const char* text = std::getenv("ONNX_TRAIN_DATA_CHECK_SECONDS");
  if (text == nullptr || *text == '\0') return kCheckBudgetSeconds;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  OT_CHECK(*end == '\0' && seconds >= 0 && std::isfinite(seconds),
           "ONNX_TRAIN_DATA_CHECK_SECONDS is '{}': a number of seconds, 0 or more, was expected", text);
  return seconds;
}

std::shared_ptr<BadSampleLog> check_data(DataSplits& data, bool skip_bad, int64_t fixed_batch,
                                         const std::function<void(const std::string&)>& note) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const double budget = check_budget_seconds();
  auto log = skip_bad ? std::make_shared<BadSampleLog>() : nullptr;
  std::vector<std::string> streamed;  // splits too large to read first
  double estimate = 0;
  const std::pair<const char*, std::shared_ptr<const Dataset>*> splits[] = {{"training", &data.train},
                                                                            {"validation", &data.val}};
  for (const auto& [name, split] : splits) {
    if (!*split) continue;
    const double spent = std::chrono::duration<double>(Clock::now() - start).count();
    const SampleScan scan = scan_samples(**split, std::max(budget - spent, 0.0), !skip_bad);
    if (!skip_bad && !scan.bad.empty())
      throw Error(fmt::format(
          "{}\nfound by reading every sample before training; fix or remove the sample, or leave bad samples out "
          "with --skip-bad-samples",
          scan.bad[0].problem));
    if (!scan.complete) {
      streamed.push_back(fmt::format("{} {} samples", (*split)->size(), name));
      estimate += scan.estimated_seconds;
    }
    if (skip_bad && fixed_batch > 0 && !scan.bad.empty()) {
      BadSampleLog found;
      for (const BadSample& bad : scan.bad) found.add(bad);
      throw Error(fmt::format(
          "the {} data has {}\n--skip-bad-samples would leave them out and make their batches smaller, but the "
          "model takes batches of exactly {} samples; remove or fix the bad samples, or export the model with a "
          "dynamic batch axis",
          name, bad_sample_list(found), fixed_batch));
    }
    if (skip_bad) {
      *split = skip_bad_samples(*split, scan.bad, log);
      if (scan.complete && !scan.bad.empty())
        note(fmt::format("{} data: {} bad sample{} left out (listed at the end)", name, scan.bad.size(),
                         scan.bad.size() == 1 ? "" : "s"));
    }
  }
  if (!streamed.empty())
    note(fmt::format(
        "reading all {} first would take about {:.1f} s, so samples are checked as they are read: a bad one {}",
        fmt::join(streamed, " and "), estimate,
        skip_bad ? "is left out (listed at the end)"
                 : "stops the run, naming it (--skip-bad-samples leaves bad samples out instead)"));
  return log;
}

std::string streamed_bad_sample(const std::string& problem, int64_t fixed_batch, const std::string& resume_from) {
  const std::string found =
      "found when its batch was read (the data is too large to read every sample before starting)";
  if (fixed_batch > 0)
    return fmt::format(
        "{}\n{}; fix or remove the sample (--skip-bad-samples cannot leave it out: the model takes batches of "
        "exactly {} samples)",
        problem, found, fixed_batch);
  std::string out =
      fmt::format("{}\n{}; fix or remove the sample, or leave bad samples out with --skip-bad-samples", problem, found);
  if (!resume_from.empty())
    out += fmt::format(
        "\nthe run can go on from where it stopped, leaving such samples out: the same command with "
        "--skip-bad-samples --resume={}",
        resume_from);
  return out;
}

std::string bad_samples_report(const BadSampleLog& log) { return "skipped " + bad_sample_list(log); }

DataOptions data_options_over(const TrainConfig& config, DataOptions stored) {
  if (!config.mean.empty()) stored.mean = config.mean;
  if (!config.std.empty()) stored.std = config.std;
  if (config.image_height > 0) {  // --image-size wins over the stored size
    stored.image_height = config.image_height;
    stored.image_width = config.image_width;
    stored.image_size_from.clear();
  }
  stored.sources = config.inputs;
  stored.columns = config.columns;
  stored.ignore_columns = config.ignore_columns;
  return stored;
}

std::map<std::string, std::string> data_entries(const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : metadata)
    if (key.rfind("data.", 0) == 0) out.emplace(key, value);
  return out;
}

std::vector<std::string> extreme_samples(const std::map<std::string, Tensor>& batch, const Dataset& data) {
  std::vector<std::string> found;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (size_t f = 0; f < data.fields().size(); ++f) {
    const auto it = batch.find(data.fields()[f].name);
    if (it == batch.end() || it->second.dtype() != DType::Float32 || it->second.rank() == 0) continue;
    const Tensor& t = it->second;
    const int64_t rows = t.dim(0), row_numel = rows > 0 ? t.numel() / rows : 0;
    const float* values = t.data<float>();
    for (int64_t r = 0; r < rows && found.size() < 8; ++r) {
      double worst = 0;
      for (int64_t j = 0; j < row_numel; ++j) {
        const double v = std::fabs(values[r * row_numel + j]);
        if (!(v <= worst)) worst = v;  // NaN counts as the worst
      }
      if (worst <= kExtremeInput) continue;
      std::string where = fmt::format("row {} of the batch", r);
      std::vector<float> sample(static_cast<size_t>(row_numel));
      for (int64_t i = 0; i < data.size() && std::chrono::steady_clock::now() < deadline; ++i) {
        data.read(f, i, sample.data());
        if (std::memcmp(sample.data(), values + r * row_numel, sample.size() * sizeof(float)) == 0) {
          where = data.source_of(f, i);
          break;
        }
      }
      found.push_back(fmt::format("'{}': {} (a value of {:.3g})", it->first, where, worst));
    }
  }
  return found;
}

}  // namespace onnx_train::cli
