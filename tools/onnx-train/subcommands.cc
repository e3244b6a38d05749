// The subcommand table of onnx-train and the usage text made from it. The first row, train, is
// the default command: `onnx-train MODEL.onnx DATA_DIR`, shown without its name. An older name
// kept for a release is a row of its own (alias_of) whose handler reads its old flags.
#include "tools/onnx-train/subcommands.h"

#include <algorithm>

#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace {

// Where the one-line help starts in the usage text; a longer command line puts it on the next line.
constexpr size_t kHelpColumn = 54;

}  // namespace

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> table = {
      {"train", "MODEL.onnx DATA_DIR [options]", "fine-tune MODEL on the data in DATA_DIR",
       "train: --profile times every node of the forward and backward graphs and each phase of the optimizer pass\n"
       "     from the first optimizer step on, and prints at the end ms per step by section, op type and node, and\n"
       "     the peak memory (the training plan's intermediates and the process's peak RSS).\n",
       train_command, /*passive_openmp=*/true, ""},
      {"eval", "MODEL.onnx DATA_DIR [options]", "loss and accuracy (on DATA_DIR's val split if any)", "", eval_command,
       /*passive_openmp=*/true, ""},
      {"predict", "MODEL.onnx DATA -o FILE.csv [options]", "a CSV row of predictions per sample (no labels needed)",
       "predict: one row per sample: its id (an image's path, else its index), the predicted class and one\n"
       "     probability per class (--top-k K: the K most probable), or for regression the output's values; the\n"
       "     model's stored classes, mean and std apply (as --mean / --std); --output NAME picks the output.\n",
       predict_command, /*passive_openmp=*/true, ""},
      {"inspect", "MODEL.onnx [options]", "inputs, outputs, parameters, ops and their support", "", inspect_command,
       /*passive_openmp=*/true, ""},
      {"graph", "MODEL.onnx -o OUT.onnx [options]", "write the training graph (forward, loss, backward)",
       "graph: with --minimise VALUE instead of a loss, the forward + backward graph of any value of the model\n"
       "     (gradients of every float initializer that reaches it, except what --freeze matches or --train-only\n"
       "     does not; --input-grad NAME adds the gradient of a model input).\n",
       graph_command, /*passive_openmp=*/true, ""},
      {"export", "CHECKPOINT -o OUT.onnx", "the inference model with a checkpoint's weights", "", export_command,
       /*passive_openmp=*/true, ""},
      {"run", "MODEL.onnx [--input NAME=FILE.pb ...] [--batch N] [--repeat N [--profile]]",
       "run a model once and print its outputs",
       "run: load MODEL.onnx, run it once on inputs from files (or a deterministic ramp) and print its outputs;\n"
       "     dynamic dimensions take --batch; --repeat N times N more runs, --profile adds the time per op type and\n"
       "     node and the peak memory, in the format of train --profile.\n",
       run_command, /*passive_openmp=*/false, ""},
      {"training-graph", "MODEL.onnx --loss VALUE -o OUT.onnx [--freeze REGEX]... [--input-grad NAME]...",
       "graph --minimise VALUE, by its older name (kept for a release)",
       "training-graph: its --loss VALUE is graph's --minimise VALUE; graph's --loss, as everywhere else, is the\n"
       "     kind of loss appended to the model.\n",
       training_graph_command, /*passive_openmp=*/false, /*alias_of=*/"graph"},
      {"ops", "", "every supported op: kernel, gradient and opset 18-23 versions", "", ops_command, /*passive_openmp=*/false, ""},
  };
  return table;
}

CommandLine find_subcommand(const std::vector<std::string>& args) {
  const auto& table = subcommands();
  const auto named = std::find_if(table.begin(), table.end(), [&](const Subcommand& c) { return c.name == args[0]; });
  if (named != table.end()) return {&*named, {args.begin() + 1, args.end()}};
  if (args[0].rfind("-", 0) == 0) return {nullptr, args};
  return {&table.front(), args};  // onnx-train MODEL.onnx DATA_DIR: train
}

std::string usage_text() {
  std::string out;
  for (const Subcommand& c : subcommands()) {
    // The default command is shown as it is typed, without its name.
    std::string line = std::string(out.empty() ? "usage: " : "       ") + "onnx-train" +
                       (&c == &subcommands().front() ? "" : " " + c.name) + (c.arguments.empty() ? "" : " ") +
                       c.arguments;
    // The help starts at kHelpColumn, on the next line when the command line reaches it.
    const size_t used = line.size() + 2 <= kHelpColumn ? line.size() : 0;
    if (used == 0) line += "\n";
    out += line + std::string(kHelpColumn - used, ' ') + c.help + "\n";
  }
  out +=
      "\n"
      "DATA_DIR holds train/ and optionally val/ (or the files themselves): NAME.npy per model input and for the\n"
      "label (first axis = samples), .npz, ONNX test_data_set_*/ folders, CSV with a header, MNIST-style IDX files\n"
      "(also .gz), or image classification folders (train/<class>/*.png|jpg). Files are matched to the model's\n"
      "input names and to the label.\n"
      "\n"
      "training options (also taken by eval, inspect, graph):\n" +
      train_options_help() + "\n";
  for (const Subcommand& c : subcommands()) out += c.more_help;
  return out;
}

}  // namespace onnx_train::cli
