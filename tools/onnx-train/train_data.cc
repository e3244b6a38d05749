#include "tools/onnx-train/train_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "onnx_train/error.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_options.h"

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
      throw Error(
          fmt::format(
              "{}\nfound by reading every sample before training; fix or remove the sample, or leave bad samples out "
              "with --skip-bad-samples",
              scan.bad[0].problem),
          ErrorCategory::Data);
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

int default_reader_threads(const Dataset& data) {
  if (data.class_names().empty() || data.class_names_from_labels()) return 1;
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
}

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

void check_classes_fit_model(const TrainConfig& config, const Prepared& run, const Dataset& train) {
  if (config.training.num_classes > 0) return;  // a new head of the classes asked for
  const auto label = std::find_if(train.fields().begin(), train.fields().end(),
                                  [](const FieldSpec& f) { return f.is_label && f.num_classes > 0; });
  if (label == train.fields().end()) return;  // no class loss, or an open class axis
  const int64_t outputs = label->num_classes;
  const std::string output = run.session->outputs().at(run.output).name;
  const std::vector<std::string> names = train.class_names();
  if (!names.empty()) {
    const auto classes = static_cast<int64_t>(names.size());
    if (classes >= outputs || config.keep_head) return;
    constexpr size_t kNamed = 5;
    const std::string listed =
        fmt::format("{}{}", fmt::join(names.begin(), names.begin() + std::min(names.size(), kNamed), ", "),
                    names.size() > kNamed ? ", ..." : "");
    OT_FAIL(
        "{}: the data has {} classes ({}) and the model's output '{}' has {}; pass --num-classes {} to give it a new "
        "{}-way head, or --keep-head to train the {}-way head on these {} classes (labels 0 to {})",
        config.data, classes, listed, output, outputs, classes, classes, outputs, classes, classes - 1);
  }
  if (config.skip_bad_samples) return;
  // Labels from files: the largest one, read within the data-check budget (a data set too
  // large for it is checked as it streams, where a label out of range is a bad sample).
  const size_t field = static_cast<size_t>(label - train.fields().begin());
  Tensor value(label->dtype, label->sample_shape);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(check_budget_seconds());
  int64_t largest = -1, first_outside = -1, first_value = 0;
  for (int64_t i = 0; i < train.size(); ++i) {
    if ((i & 255) == 0 && std::chrono::steady_clock::now() > deadline) return;
    with_category(ErrorCategory::Data, [&] { train.read(field, i, value.raw_data()); });
    for (const int64_t v : value.to_int64s()) {
      if (v == label->ignore_index) continue;
      largest = std::max(largest, v);
      if (v >= outputs && first_outside < 0) {
        first_outside = i;
        first_value = v;
      }
    }
  }
  // One label out of range is as likely a damaged sample as a class the model lacks: both
  // ways out are offered, the one that needs the flag first.
  if (first_outside >= 0)
    OT_FAIL_AS(ErrorCategory::Data,
               "{}: class label {} of field '{}' is outside [0, {}): the model's output '{}' has {} classes, and the "
               "labels go up to {}\nfound by reading every label before training; if the data has {} classes, pass "
               "--num-classes {} to give the model a new {}-way head; otherwise fix or remove the sample, or leave bad "
               "samples out with --skip-bad-samples",
               train.source_of(field, first_outside), first_value, label->name, outputs, output, outputs, largest,
               largest + 1, largest + 1, largest + 1);
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
