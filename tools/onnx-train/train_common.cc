#include "tools/onnx-train/train_common.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <unistd.h>

#include "onnx_train/lora.h"
#include "onnx_train/session.h"
#include "tools/onnx-train/run_folder.h"
#include "tools/onnx-train/train_data.h"

namespace onnx_train::cli {

namespace {

bool is_class_loss(const TrainConfig& c) {
  return c.loss != "none" && (c.training.loss.kind == LossKind::CrossEntropy || c.training.loss.kind == LossKind::NLL);
}

// One sample's shape: the declared shape without its first (batch) axis.
Shape sample_shape(const TensorSpec& spec, const std::string& what) {
  OT_CHECK(spec.rank_known && !spec.shape.empty(),
           "{} '{}' is {}: its shape must be declared (with a batch axis first) to read training data for it", what,
           spec.name, spec.describe());
  return Shape(spec.shape.begin() + 1, spec.shape.end());
}

// The first scalar float output: the loss of a model that computes its own.
std::string scalar_output(const std::string& model) {
  const Session s = Session::from_file(model);
  for (const auto& o : s.outputs()) {
    if (dtype_is_float(o.dtype) && o.rank_known && o.shape.empty()) return o.name;
  }
  std::vector<std::string> described;
  for (const auto& o : s.outputs()) described.push_back(o.name + " " + o.describe());
  OT_FAIL(
      "{}: --loss none needs a scalar float output (the model's own loss); its outputs are {}; name one with "
      "--output",
      model, fmt::join(described, ", "));
}

}  // namespace

Prepared prepare_session(const TrainConfig& config) {
  TrainingOptions options = config.training;
  if (options.activation_batch == 0) options.activation_batch = config.batch_size;  // --max-activation-memory's batch
  if (config.loss == "none")
    options.model_loss = options.loss.output.empty() ? scalar_output(config.model) : options.loss.output;
  Prepared run;
  run.session = std::make_unique<TrainingSession>(TrainingSession::from_file(config.model, options));
  const TrainingSession& s = *run.session;
  for (const auto& spec : s.inputs()) {
    if (spec.name == s.label_name()) continue;
    run.fields.push_back({spec.name, spec.dtype, sample_shape(spec, "model input")});
    if (spec.shape[0] > 0) run.fixed_batch = spec.shape[0];
  }
  const std::string output_name = options.loss.output.empty() ? s.outputs().at(0).name : options.loss.output;
  for (size_t i = 0; i < s.outputs().size(); ++i) {
    if (s.outputs()[i].name == output_name) run.output = i;
  }
  if (s.label_name().empty()) return run;  // the model's own loss: its label is a model input

  const TensorSpec& out = s.outputs().at(run.output);
  FieldSpec label{s.label_name(), out.dtype, {}, true};
  if (is_class_loss(config)) {
    // Logits [N, C, d1, ...] -> class indices [N, d1, ...]; [N, d1, ..., C] -> [N, d1, ...].
    OT_CHECK(out.rank_known && out.shape.size() >= 2,
             "{}: output '{}' is {}; a class loss needs [batch, classes, ...] scores", config.model, out.name,
             out.describe());
    run.class_axis = resolved_class_axis(options.loss, out.shape.size());
    label.dtype = options.loss.label_dtype;
    for (size_t d = 1; d < out.shape.size(); ++d)
      if (static_cast<int64_t>(d) != run.class_axis) label.sample_shape.push_back(out.shape[d]);
    label.num_classes = out.shape[run.class_axis] > 0 ? out.shape[run.class_axis] : 0;
    if (out.shape.size() >= 3)
      label.shape_note = fmt::format(
          "the label's shape is the output '{}' {} without its batch axis and its class axis {} (--class-axis {} "
          "reads the classes from axis {})",
          out.name, shape_str(out.shape), run.class_axis, run.class_axis == 1 ? "last" : "1",
          run.class_axis == 1 ? static_cast<int64_t>(out.shape.size()) - 1 : 1);
    label.ignore_index = options.loss.ignore_index;
    run.scoring = Prepared::Scoring::Classes;
  } else {
    label.sample_shape = sample_shape(out, "model output");
    if (options.loss.kind == LossKind::BCEWithLogits) run.scoring = Prepared::Scoring::Binary;
  }
  run.ignore_index = options.loss.ignore_index;
  run.fields.push_back(label);
  return run;
}

std::pair<int64_t, int64_t> Prepared::accuracy_of(const std::vector<Tensor>& outputs,
                                                  const std::map<std::string, Tensor>& batch) const {
  if (scoring == Scoring::None) return {0, 0};
  const Tensor& y = outputs.at(output);
  const Tensor& t = batch.at(session->label_name());
  if (y.dtype() != DType::Float32) return {0, 0};
  const float* scores = y.data<float>();
  int64_t correct = 0, counted = 0;
  if (scoring == Scoring::Binary) {
    const std::vector<double> targets = t.to_doubles();
    for (int64_t i = 0; i < y.numel(); ++i, ++counted) correct += (scores[i] > 0) == (targets[i] > 0.5);
    return {correct, counted};
  }
  // [outer..., C, inner...] with the classes on class_axis; labels are [outer..., inner...].
  const int64_t classes = y.dim(static_cast<int>(class_axis));
  int64_t n = 1;
  for (int64_t d = 0; d < class_axis; ++d) n *= y.dim(static_cast<int>(d));
  const int64_t inner = y.numel() / std::max<int64_t>(n * classes, 1);
  const std::vector<int64_t> labels = t.to_int64s();
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t label = labels[b * inner + j];
      if (label == ignore_index) continue;
      const float* row = scores + b * classes * inner + j;
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c) {
        if (row[c * inner] > row[best * inner]) best = c;
      }
      correct += best == label;
      ++counted;
    }
  }
  return {correct, counted};
}

ScheduleOptions make_schedule(const TrainConfig& config, int64_t total_steps, int64_t steps_per_epoch) {
  std::string spec = config.schedule;
  const std::string kind = spec.substr(0, spec.find(':'));
  std::vector<std::string> added;
  auto given = [&](const std::string& key) { return spec.find(key + "=") != std::string::npos; };
  if (!given("total_steps")) added.push_back(fmt::format("total_steps={}", total_steps));
  if (kind == "step" && !given("step_size"))
    added.push_back(fmt::format("step_size={}", std::max<int64_t>(steps_per_epoch, 1)));
  if (config.warmup_steps > 0 && !given("warmup_steps"))
    added.push_back(fmt::format("warmup_steps={}", config.warmup_steps));
  if (kind == "onecycle") {
    if (!given("max_lr")) added.push_back(fmt::format("max_lr={:.17g}", config.training.learning_rate));
  } else if (!given("base_lr")) {
    added.push_back(fmt::format("base_lr={:.17g}", config.training.learning_rate));
  }
  if (!added.empty())
    spec += (spec.find(':') == std::string::npos ? ":" : ",") + fmt::format("{}", fmt::join(added, ","));
  try {
    return parse_schedule(spec);
  } catch (const Error& e) {
    throw Error(fmt::format("--schedule {}: {}", config.schedule, e.what()), e.category());
  }
}

bool fit_fixed_batch(TrainConfig& config, const Prepared& run, const Dataset& data,
                     const std::function<void(const std::string&)>& note) {
  if (run.fixed_batch <= 0) return config.drop_last;
  const bool given = std::find(config.args.begin(), config.args.end(), "--batch-size") != config.args.end();
  OT_CHECK(!given || config.batch_size == run.fixed_batch,
           "{}: the model takes batches of exactly {} samples (its inputs' first dimension is fixed at export); use "
           "--batch-size {}, or export the model with a dynamic batch axis",
           config.model, run.fixed_batch, run.fixed_batch);
  config.batch_size = run.fixed_batch;
  const int64_t rest = data.size() % run.fixed_batch;
  OT_CHECK(data.size() >= run.fixed_batch, "{}: {} samples make no batch of {}, the model's fixed batch size",
           config.data, data.size(), run.fixed_batch);
  if (rest != 0 && !config.drop_last)
    note(
        fmt::format("the model's batch size is fixed at {}: the last {} of {} samples make no whole batch and are "
                    "left out (export the model with a dynamic batch axis to use them)",
                    run.fixed_batch, rest, data.size()));
  return rest != 0 || config.drop_last;
}

EvalTotals evaluate(TrainingSession& session, const Prepared& run, std::shared_ptr<const Dataset> data,
                    int64_t batch_size, bool drop_last,
                    const std::function<std::string(const std::string&)>& bad_sample,
                    const EvalBatchObserver& on_batch, Communicator* group) {
  const int threads = default_reader_threads(*data);
  BatchLoader loader(std::move(data), batch_size, /*shuffle=*/false, /*seed=*/0, drop_last);
  loader.set_workers(threads);
  if (group != nullptr) loader.set_shard(group->rank(), group->size(), /*pad=*/false);
  loader.start_epoch(0);
  EvalTotals totals;
  std::map<std::string, Tensor> batch;
  for (;;) {
    try {
      if (!loader.next(batch)) break;
    } catch (const Error& e) {
      if (!bad_sample) throw;
      throw Error(bad_sample(e.what()), e.category());
    }
    const EvalResult r = session.eval_step(batch);
    totals.add(r.loss, batch.begin()->second.dim(0), run.accuracy_of(r.outputs, batch));
    if (on_batch) on_batch(r, batch);
  }
  if (group != nullptr) {
    double sums[4] = {totals.loss_sum, static_cast<double>(totals.samples), static_cast<double>(totals.correct),
                      static_cast<double>(totals.counted)};
    group->allreduce_sum(sums, 4, "the validation totals");
    totals.loss_sum = sums[0];
    totals.samples = static_cast<int64_t>(sums[1]);
    totals.correct = static_cast<int64_t>(sums[2]);
    totals.counted = static_cast<int64_t>(sums[3]);
  }
  return totals;
}

std::string cli_note(const std::string& note) {
  // The session's wording (note_unmatched_patterns and note_lost_training_structure in
  // runtime/train/parameters.cc): a pattern note starts with the option's name, the
  // lost-structure note speaks of freeze patterns in general.
  for (const auto& [api, cli] :
       {std::pair{"freeze pattern '", "--freeze '"}, std::pair{"train_only pattern '", "--train-only '"}}) {
    if (note.rfind(api, 0) == 0) return cli + note.substr(std::strlen(api));
  }
  const std::string api = ", and freeze patterns cannot name those layers";
  if (const size_t at = note.find(api); at != std::string::npos)
    return note.substr(0, at) + ", and --freeze / --train-only patterns cannot name those layers" +
           note.substr(at + api.size());
  return note;
}

std::string join_args(const std::vector<std::string>& args) { return fmt::format("{}", fmt::join(args, "\n")); }

std::vector<std::string> split_args(const std::string& joined) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin <= joined.size()) {
    const size_t end = std::min(joined.find('\n', begin), joined.size());
    out.push_back(joined.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

namespace {

// A run's arguments as option -> value ("MODEL" and "DATA" for the positionals; a switch is
// "on"; the patterns of a repeatable option joined in order).
std::map<std::string, std::string> arg_values(const std::vector<std::string>& args) {
  std::map<std::string, std::string> out;
  int positional = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("-", 0) != 0 || a == "-") {
      out[positional++ == 0 ? "MODEL" : "DATA"] = a;
    } else if (train_flag_takes_value(a) && i + 1 < args.size()) {
      // --freeze and --train-only add a pattern each time; any other option given twice
      // takes the last value, as parse_train_args does.
      std::string& v = out[a];
      const bool repeatable = a == "--freeze" || a == "--train-only";
      v = (repeatable && !v.empty() ? v + ", " : "") + args[++i];
    } else {
      out[a] = "on";
    }
  }
  return out;
}

}  // namespace

const std::set<std::string>& resume_safe_options() {
  // What the checkpoint's state (parameters, optimizer moments, step, data position) means
  // does not depend on these: they steer how the run goes on from it, or where it writes.
  // --skip-bad-samples too: a run stopped by a bad sample found while streaming goes on past it;
  // --skip-nonfinite and --detect-anomaly, so that a run stopped by a NaN goes on past the batch
  // or is looked into.
  // --distributed, --bucket-mb and --dist-timeout only say how the ranks talk; the number of
  // ranks may change on resume too (the data position is a position in the whole order).
  // --batch-size too: the data position is kept in samples (the epoch's shuffled order does
  // not depend on it), so the epoch goes on from the same sample in batches of the new size.
  // clang-format off
  static const std::set<std::string> kSafe = {
      "--lr",     "--schedule",         "--warmup-steps",   "--clip-grad-norm",   "--clip-grad-value",
      "--epochs", "--max-steps",        "--export",         "--export-training",  "--log",
      "--plot",   "--threads",          "--checkpoint-dir", "--checkpoint-every", "--keep-checkpoints",
      "--quiet",  "--skip-bad-samples", "--tensorboard",    "--batch-size",       "--workers",
      "--eval-every", "--early-stopping", "--early-stopping-metric", "--early-stopping-min-delta",
      "--save-best", "--save-best-path", "--plot-log-scale", "--skip-nonfinite", "--detect-anomaly",
      "--distributed", "--bucket-mb", "--dist-timeout"};
  // clang-format on
  return kSafe;
}

std::string model_changed_since(const std::string& checkpoint, const std::map<std::string, std::string>& meta,
                                const std::string& model, const std::string& model_hash,
                                const std::string& what_to_do) {
  const auto hash = meta.find(kModelHashKey);
  if (hash == meta.end() || hash->second == model_hash) return "";
  return fmt::format(
      "{}: {} is not the model file this checkpoint was trained from: its content changed since (content hash {}, "
      "the checkpoint's {}); {}",
      checkpoint, model, model_hash, hash->second, what_to_do);
}

ArgsDiff compare_run_args(const std::vector<std::string>& checkpoint_args, const std::vector<std::string>& args) {
  const std::set<std::string>& kSafe = resume_safe_options();
  const auto before = arg_values(checkpoint_args), now = arg_values(args);
  std::set<std::string> keys;
  for (const auto& [k, v] : before) keys.insert(k);
  for (const auto& [k, v] : now) keys.insert(k);
  ArgsDiff diff;
  for (const std::string& key : {std::string("MODEL"), std::string("DATA")}) {
    const auto b = before.find(key), n = now.find(key);
    if (b == before.end() || n == now.end()) continue;
    if (!same_file(b->second, n->second))
      diff.meaning.push_back(fmt::format("{}: {} in the checkpoint, {} now", key, b->second, n->second));
  }
  auto shown = [](const std::map<std::string, std::string>& m, const std::string& key) {
    const auto it = m.find(key);
    return it == m.end() ? std::string("(not set)") : it->second;
  };
  for (const std::string& key : keys) {
    if (key == "MODEL" || key == "DATA") continue;
    const std::string b = shown(before, key), n = shown(now, key);
    if (b == n) continue;
    if (kSafe.count(key))
      diff.safe.push_back(fmt::format("{} {} -> {}", key, b, n));
    else
      diff.meaning.push_back(fmt::format("{}: {} in the checkpoint, {} now", key, b, n));
  }
  return diff;
}

MergedLoraModel::MergedLoraModel(const std::string& model, const std::string& adapter) : model_(model) {
  if (adapter.empty()) return;
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("onnx-train-merged-{}.onnx", getpid())).string();
  export_merged_lora(model, adapter, path);
  merged_ = path;
}

MergedLoraModel::~MergedLoraModel() {
  std::error_code ignored;
  if (!merged_.empty()) std::filesystem::remove(merged_, ignored);
}

}  // namespace onnx_train::cli
