// onnx-train inspect: what a model holds and what a training run with the given options would
// train (with --num-classes, the new head as training makes it), what onnx-train wrote into a
// model it exported (model_metadata.h), and what a checkpoint holds (step, position, the run's
// arguments, parameters, running statistics, optimizer state, classes).
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "onnx_train/dataset.h"
#include "onnx_train/inspect.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/model_metadata.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_loop.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace {

std::string op_key(const std::string& domain, const std::string& op) { return domain.empty() ? op : domain + "." + op; }

std::string entry(const std::map<std::string, std::string>& meta, const std::string& key) {
  const auto it = meta.find(key);
  return it == meta.end() ? std::string() : it->second;
}

// The data.* and training.* entries (model_metadata.h) in words, a few lines; the other
// entries of `meta` that are not in `skip` as they are. `source` names the file in messages.
void print_metadata(const std::map<std::string, std::string>& meta, const std::string& source,
                    const std::set<std::string>& skip = {}) {
  std::vector<std::string> lines;
  const DataOptions data = data_options_from_metadata(meta, source);
  if (!data.classes.empty())
    lines.push_back(fmt::format("classes ({}): {}", data.classes.size(), fmt::join(data.classes, ", ")));
  if (const std::string input = entry(meta, "data.input"); !input.empty()) {
    std::string line = fmt::format("input '{}': images of C,H,W {}", input, entry(meta, "data.input_shape"));
    if (!data.mean.empty()) line += fmt::format(", mean {}", fmt::join(data.mean, ","));
    if (!data.std.empty()) line += fmt::format(", std {}", fmt::join(data.std, ","));
    lines.push_back(line);
    if (const std::string layout = entry(meta, "data.input_layout"); !layout.empty())
      lines.push_back("preprocessing: " + layout);
  } else if (!data.mean.empty() || !data.std.empty()) {
    lines.push_back(fmt::format("normalisation: mean {}, std {}", fmt::join(data.mean, ","), fmt::join(data.std, ",")));
  }
  if (const std::string loss = entry(meta, "training.loss"); !loss.empty()) {
    const std::string label = entry(meta, "training.label");
    lines.push_back(
        fmt::format("trained with: --loss {} on output '{}'{}, --optimizer {} --lr {} --schedule {}, "
                    "--batch-size {}",
                    loss, entry(meta, "training.output"), label.empty() ? "" : fmt::format(" (labels '{}')", label),
                    entry(meta, "training.optimizer"), entry(meta, "training.lr"), entry(meta, "training.schedule"),
                    entry(meta, "training.batch_size")));
    lines.push_back(fmt::format("trained for: {} steps, {} epochs of {} samples", entry(meta, "training.steps"),
                                entry(meta, "training.epochs"), entry(meta, "training.samples")));
    std::vector<std::string> results;
    for (const auto& [key, name] :
         {std::pair{"training.train_loss", "train loss"}, std::pair{"training.val_loss", "val loss"}})
      if (const std::string v = entry(meta, key); !v.empty()) results.push_back(fmt::format("{} {}", name, v));
    if (const std::string v = entry(meta, "training.val_accuracy"); !v.empty())
      results.push_back(fmt::format("val accuracy {:.2f}%", 100 * std::strtod(v.c_str(), nullptr)));
    if (!results.empty()) lines.push_back(fmt::format("results: {}", fmt::join(results, ", ")));
    lines.push_back(fmt::format("written: {} by onnx-train {}, from {}", entry(meta, "training.date"),
                                entry(meta, "training.onnx_train_version"), entry(meta, "training.base_model")));
  }
  std::vector<std::string> others;
  for (const auto& [key, value] : meta) {
    if (key.rfind("data.", 0) == 0 || key.rfind("training.", 0) == 0 || skip.count(key)) continue;
    constexpr size_t kShown = 100;  // long values (an optimizer's options, JSON) are cut
    const std::string line = value.substr(0, value.find('\n'));
    others.push_back(fmt::format("{} = {}{}", key, line.substr(0, kShown),
                                 line.size() < value.size() || line.size() > kShown ? " ..." : ""));
  }
  if (!lines.empty()) {
    std::printf("metadata (written by onnx-train):\n");
    for (const auto& line : lines) std::printf("  %s\n", line.c_str());
  }
  if (!others.empty()) {
    std::printf("%s:\n", lines.empty() ? "metadata" : "other metadata");
    for (const auto& line : others) std::printf("  %s\n", line.c_str());
  }
}

int inspect_checkpoint_file(const std::string& path, const std::vector<std::string>& options) {
  OT_CHECK(options.empty(),
           "inspect {}: a checkpoint's own run decides how it trains; {} does not apply (inspect the model with the "
           "options instead)",
           path, options.front());
  const CheckpointReport report = inspect_checkpoint(path);
  const auto& meta = report.metadata;
  std::string at = fmt::format("step {}", report.step);
  if (meta.count("cli.epoch") && meta.count("cli.batch")) {
    const LoopPosition position = position_of(meta);
    at += position.batch == 0 ? fmt::format(", after epoch {}", position.epoch)
                              : fmt::format(", epoch {} batch {}", position.epoch + 1, position.batch);
  }
  if (const std::string samples = entry(meta, "cli.train_samples"); !samples.empty())
    at += fmt::format(" (of {} training samples)", samples);
  std::printf("checkpoint %s: %s\n", path.c_str(), at.c_str());
  std::printf("  optimizer %s, schedule %s, seed %s\n", report.optimizer.c_str(), report.schedule.c_str(),
              report.seed.c_str());
  if (const std::string args = entry(meta, kArgsKey); !args.empty())
    std::printf("  the run: onnx-train %s\n", fmt::format("{}", fmt::join(split_args(args), " ")).c_str());
  else
    std::printf("  model: %s (written by the C++ API: no run recorded)\n", report.model.c_str());
  if (const std::string summary = entry(meta, kSummaryKey); !summary.empty()) {
    // The results the run had at this checkpoint (model_metadata.h): what its export will say.
    SummaryObserver stored;
    stored.load_state(meta);
    const TrainingSummary results = stored.results();
    std::vector<std::string> parts;
    if (!std::isnan(results.train_loss)) parts.push_back(fmt::format("train loss {:.4f}", results.train_loss));
    if (!std::isnan(results.val_loss)) parts.push_back(fmt::format("val loss {:.4f}", results.val_loss));
    if (results.val_accuracy >= 0) parts.push_back(fmt::format("val accuracy {:.2f}%", 100 * results.val_accuracy));
    if (!parts.empty()) std::printf("  results: %s\n", fmt::format("{}", fmt::join(parts, ", ")).c_str());
  }
  if (const std::string changes = entry(meta, "cli.changes"); !changes.empty()) {
    std::printf("  changed on resume:\n");
    for (const auto& line : split_args(changes))
      if (!line.empty()) std::printf("    %s\n", line.c_str());
  }

  using Kind = CheckpointTensorReport::Kind;
  const std::pair<Kind, const char*> sections[] = {
      {Kind::Parameter, "parameters (trained)"},
      {Kind::RunningStatistic, "running statistics (BatchNormalization: updated by training, not trained)"},
      {Kind::OptimizerState, "optimizer state"},
      {Kind::Other, "other tensors"}};
  for (const auto& [kind, title] : sections) {
    int64_t values = 0, count = 0;
    for (const auto& t : report.tensors) {
      if (t.kind != kind) continue;
      if (count++ == 0) std::printf("%s:\n", title);
      values += t.values;
      if (kind == Kind::OptimizerState)
        std::printf("  %-40s %-24s %10lld  %s\n", t.key.c_str(), t.spec.describe().c_str(),
                    static_cast<long long>(t.values), t.describe.c_str());
      else
        std::printf("  %-40s %-24s %10lld\n", t.of.c_str(), t.spec.describe().c_str(),
                    static_cast<long long>(t.values));
    }
    if (count > 0)
      std::printf("  %lld tensors, %lld values\n", static_cast<long long>(count), static_cast<long long>(values));
  }
  // The session's own entries and the run's are shown above, or are the command line's
  // bookkeeping for --resume (cli.*: the epoch's running totals, the loss history, the model's
  // hash) and the Dropout generators' states (rng/*); the rest as stored.
  std::set<std::string> shown = {"step", "optimizer", "schedule", "seed", "model"};
  for (const auto& [key, value] : meta)
    if (key.rfind("cli.", 0) == 0 || key.rfind("rng/", 0) == 0) shown.insert(key);
  print_metadata(meta, "the checkpoint " + path, shown);
  return 0;
}

}  // namespace

int inspect_command(const std::vector<std::string>& args) {
  // Works from the graph itself, without building gradients: a model whose ops lack a
  // kernel or a gradient rule is exactly what this should explain.
  const TrainConfig config = parse_train_args(args, /*need_data=*/false, "inspect");
  // The file's metadata, read once: whether it is a checkpoint, and what onnx-train stored.
  std::map<std::string, std::string> metadata;
  try {
    metadata = read_model_metadata(config.model);
  } catch (const Error&) {
    // Not readable as an ONNX file: inspect_model says what is wrong with it, as loading it does.
  }
  if (is_checkpoint(metadata)) {
    std::vector<std::string> options;
    for (const auto& arg : config.args)
      if (arg != config.model) options.push_back(arg);
    return inspect_checkpoint_file(config.model, options);
  }
  const ModelReport report = inspect_model(config.model, config.training);
  std::printf("model %s\n", config.model.c_str());
  std::printf("inputs:\n");
  for (const auto& v : report.inputs) std::printf("  %-32s %s\n", v.name.c_str(), v.describe().c_str());
  std::printf("outputs:\n");
  for (const auto& v : report.outputs) {
    std::string line = v.describe();
    if (v.name == report.head.output && report.head.new_classes > 0)
      line += fmt::format("  (--num-classes {}: a new {}-way head; the model file's is {}-way)",
                          report.head.new_classes, report.head.new_classes, report.head.old_classes);
    std::printf("  %-32s %s\n", v.name.c_str(), line.c_str());
  }

  // Parameters: what a training run with these options would train.
  int64_t trained = 0, total = 0;
  std::printf("parameters (initializers):\n");
  for (const auto& p : report.initializers) {
    std::string role = "not trained (a setting, or reaches no output)";
    if (p.role == ParameterRole::NotFloat) role = "constant (not float)";
    if (p.role == ParameterRole::Buffer)
      role = "running statistic (BatchNormalization: updated by training, not trained)";
    if (p.role == ParameterRole::Frozen) role = "frozen";
    if (p.role == ParameterRole::Trainable) {
      role = "trainable";
      trained += p.values;
    }
    if (p.new_head) role += fmt::format(", new (the {}-way head, freshly initialised)", report.head.new_classes);
    total += p.values;
    std::printf("  %-40s %-24s %10lld  %s\n", p.name.c_str(), p.spec.describe().c_str(),
                static_cast<long long>(p.values), role.c_str());
  }
  std::printf("  %lld of %lld values trainable\n", static_cast<long long>(trained), static_cast<long long>(total));

  // Ops: does each have a kernel for its version, and a gradient rule?
  std::printf("ops (nodes): kernel | gradient\n");
  int problems = 0;
  for (const auto& op : report.ops) {
    std::string kernel = "no kernel", gradient = "no rule";
    if (op.known) {
      kernel = op.kernel ? "kernel" : fmt::format("no kernel for version {}", fmt::join(op.versions, "/"));
      if (op.not_differentiable) {
        gradient = "not differentiable";
      } else if (op.gradient_rule) {
        gradient = "gradient rule";
      }
    }
    problems += !op.kernel;
    std::printf("  %-32s %4d  %s | %s\n", op_key(op.domain, op.op_type).c_str(), op.nodes, kernel.c_str(),
                gradient.c_str());
  }
  // What onnx-train (or the exporter) wrote into the file: classes, preprocessing, the training.
  print_metadata(metadata, "the model " + config.model);
  if (problems > 0) std::printf("%d op(s) cannot run: the model cannot be trained here\n", problems);
  for (const auto& note : report.notes) std::printf("note: %s\n", cli_note(note).c_str());
  return problems > 0 ? 1 : 0;
}

}  // namespace onnx_train::cli
