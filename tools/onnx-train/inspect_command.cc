// onnx-train inspect: what a model holds and what a training run with the given options would train.
#include <fmt/format.h>

#include <cstdio>

#include "onnx_train/inspect.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace {

std::string op_key(const std::string& domain, const std::string& op) { return domain.empty() ? op : domain + "." + op; }

}  // namespace

int inspect_command(const std::vector<std::string>& args) {
  // Works from the graph itself, without building gradients: a model whose ops lack a
  // kernel or a gradient rule is exactly what this should explain.
  const TrainConfig config = parse_train_args(args, /*need_data=*/false);
  const ModelReport report = inspect_model(config.model, config.training);
  std::printf("model %s\n", config.model.c_str());
  std::printf("inputs:\n");
  for (const auto& v : report.inputs) std::printf("  %-32s %s\n", v.name.c_str(), v.describe().c_str());
  std::printf("outputs:\n");
  for (const auto& v : report.outputs) std::printf("  %-32s %s\n", v.name.c_str(), v.describe().c_str());

  // Parameters: what a training run with these options would train.
  int64_t trained = 0, total = 0;
  std::printf("parameters (initializers):\n");
  for (const auto& p : report.initializers) {
    const char* role = "not trained (running statistic or setting, or reaches no output)";
    if (p.role == ParameterRole::NotFloat) role = "constant (not float)";
    if (p.role == ParameterRole::Frozen) role = "frozen";
    if (p.role == ParameterRole::Trainable) {
      role = "trainable";
      trained += p.values;
    }
    total += p.values;
    std::printf("  %-40s %-24s %10lld  %s\n", p.name.c_str(), p.spec.describe().c_str(),
                static_cast<long long>(p.values), role);
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
  if (problems > 0) std::printf("%d op(s) cannot run: the model cannot be trained here\n", problems);
  for (const auto& note : report.notes) std::printf("note: %s\n", cli_note(note).c_str());
  return problems > 0 ? 1 : 0;
}

}  // namespace onnx_train::cli
