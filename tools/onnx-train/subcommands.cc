// The subcommand table of onnx-train, the help made from it, and the taking of each command's
// own flags by the names its row gives. The first row, train, is the default command:
// `onnx-train MODEL.onnx DATA_DIR`, shown without its name. An older name kept for a release is
// a row of its own (alias_of) whose handler reads its old flags.
#include "tools/onnx-train/subcommands.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "onnx_train/error.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace {

// Where the one-line help starts in the usage text; a longer command line puts it on the next line.
constexpr size_t kHelpColumn = 54;

// The -o PATH of the commands that write one file.
CommandOption output_option(const std::string& what) { return {{"-o", "--export"}, "PATH", what}; }

// --max-memory of the commands that do not take the training options (run, export).
CommandOption max_memory_option() { return {{kMaxMemoryFlag}, "SIZE", kMaxMemoryHelp}; }

const char* const kDataHelp =
    "DATA_DIR holds train/ and optionally val/ (or the files themselves): NAME.npy per model input and for the\n"
    "label (first axis = samples), .npz, ONNX test_data_set_*/ folders, CSV with a header, MNIST-style IDX files\n"
    "(also .gz), or image classification folders (train/<class>/*.png|jpg); or one data file (a CSV, an npz).\n"
    "Files are matched to the model's input names and to the label (--input NAME=SOURCE, --label NAME otherwise).\n";

// The command line as typed: the default command without its name.
std::string typed_command(const Subcommand& c) {
  return std::string("onnx-train") + (&c == &subcommands().front() ? "" : " " + c.name) +
         (c.arguments.empty() ? "" : " ") + c.arguments;
}

}  // namespace

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> table = {
      {"train", "MODEL.onnx DATA_DIR [options]", "fine-tune MODEL on the data in DATA_DIR",
       "train: --profile times every node of the forward and backward graphs and each phase of the optimizer pass\n"
       "     from the first optimizer step on, and prints at the end ms per step by section, op type and node, and\n"
       "     the peak memory (the training plan's intermediates and the process's peak RSS).\n",
       train_command, /*passive_openmp=*/true, "", /*options=*/{}, /*training_options=*/true},
      {"eval", "MODEL.onnx|CHECKPOINT DATA_DIR [options]", "loss, accuracy, a classifier's confusion matrix (MODEL or a CHECKPOINT)", "", eval_command,
       /*passive_openmp=*/true, "", /*options=*/{{{"--json"}, "FILE", "also write the scores (and a classifier's report) as one JSON object"}}, /*training_options=*/true},
      {"predict", "MODEL.onnx DATA -o FILE.csv [options]", "a CSV row of predictions per sample (no labels needed)",
       "predict: one row per sample: its id (an image's path, else its index), the predicted class and one\n"
       "     probability per class (--top-k K: the K most probable), or for regression the output's values; the\n"
       "     model's stored classes, mean and std apply (as --mean / --std); --output NAME picks the output.\n",
       predict_command, /*passive_openmp=*/true, "",
       /*options=*/
       {{{"-o"}, "FILE.csv", "where to write the predictions (CSV, written whole or not at all)"},
        {{"--top-k"}, "K", "the K most probable classes per row instead of one probability column per class"}},
       /*training_options=*/true},
      {"inspect", "MODEL.onnx|CHECKPOINT [options]", "inputs, outputs, parameters, ops, metadata; a checkpoint's run and tensors", "", inspect_command,
       /*passive_openmp=*/true, "", /*options=*/{}, /*training_options=*/true},
      {"graph", "MODEL.onnx -o OUT.onnx [options]", "write the training graph (forward, loss, backward)",
       "graph: with --minimise VALUE instead of a loss, the forward + backward graph of any value of the model\n"
       "     (gradients of every float initializer that reaches it, except what --freeze matches or --train-only\n"
       "     does not; --input-grad NAME adds the gradient of a model input).\n",
       graph_command, /*passive_openmp=*/true, "",
       /*options=*/
       {output_option("the file to write the graph to"),
        {{"--minimise"}, "VALUE", "differentiate this value of the model instead of appending a loss"},
        {{"--input-grad"}, "NAME", "with --minimise: also the gradient of this model input (repeatable)"}},
       /*training_options=*/true},
      {"export", "CHECKPOINT -o OUT.onnx", "the inference model with a checkpoint's weights",
       "export: MODEL.onnx --lora-adapter FILE -o OUT.onnx writes MODEL with the adapters of FILE merged in.\n",
       export_command, /*passive_openmp=*/true, "",
       /*options=*/
       {output_option("where to write the inference model"), max_memory_option(),
        {{"--lora-adapter"}, "FILE", "merge these LoRA adapters into the model given in CHECKPOINT's place"},
        {{kExternalDataFlag}, "MODE", kExternalDataHelp}}},
      {"run", "MODEL.onnx [options]",
       "run a model once and print its outputs",
       "run: load MODEL.onnx, run it once on inputs from files (or a deterministic ramp) and print its outputs;\n"
       "     dynamic dimensions take --batch; --repeat N times N more runs, --profile adds the time per op type and\n"
       "     node and the peak memory, in the format of train --profile.\n",
       run_command, /*passive_openmp=*/false, "",
       /*options=*/
       {{{"--input"}, "NAME=FILE.pb", "feed model input NAME from a TensorProto file (repeatable; others get a ramp)"},
        {{"--batch"}, "N", "the size of the model's dynamic dimensions (default 1)"},
        {{"--repeat"}, "N", "time N more runs after the first"},
        {{"--profile"}, "", "with --repeat: the time per op type and node, and the peak memory"},
        max_memory_option(),
        {{"--lora-adapter"}, "FILE", "run the model with these LoRA adapters merged in"}}},
      {"training-graph", "MODEL.onnx --loss VALUE -o OUT.onnx [options]",
       "graph --minimise VALUE, by its older name (kept for a release)",
       "training-graph: its --loss VALUE is graph's --minimise VALUE; graph's --loss, as everywhere else, is the\n"
       "     kind of loss appended to the model.\n",
       training_graph_command, /*passive_openmp=*/false, /*alias_of=*/"graph",
       /*options=*/
       {{{"--loss"}, "VALUE", "the value of the model to differentiate (graph's --minimise)"},
        output_option("the file to write the graph to"),
        {{"--freeze"}, "REGEX", "no gradient for parameters whose name matches (repeatable)"},
        {{"--train-only"}, "REGEX", "gradients only for parameters whose name matches (repeatable)"},
        {{"--input-grad"}, "NAME", "also the gradient of this model input (repeatable)"}}},
      {"ops", "", "every supported op: kernel, gradient and opset 18-23 versions", "", ops_command,
       /*passive_openmp=*/false, ""},
  };
  return table;
}

const Subcommand* find_command(const std::string& name) {
  const auto& table = subcommands();
  const auto it = std::find_if(table.begin(), table.end(), [&](const Subcommand& c) { return c.name == name; });
  return it == table.end() ? nullptr : &*it;
}

CommandLine find_subcommand(const std::vector<std::string>& args) {
  if (const Subcommand* named = find_command(args[0])) return {named, {args.begin() + 1, args.end()}};
  // `onnx-train --quiet MODEL DATA`: a training option first still means the default command.
  const std::string flag = args[0].substr(0, args[0].find('='));
  const bool training_flag = flag.rfind("-", 0) == 0 && is_train_flag(flag);
  if (args[0].rfind("-", 0) == 0 && !training_flag) return {nullptr, args};
  return {&subcommands().front(), args};  // onnx-train MODEL.onnx DATA_DIR: train
}

std::string unknown_command_error(const std::string& word) {
  // A model file is a path: it has an extension or a folder, or it exists.
  if (word.empty() || word[0] == '-' || word.find_first_of("./") != std::string::npos) return "";
  std::error_code ignored;
  if (std::filesystem::exists(word, ignored)) return "";
  std::vector<std::string> names;
  for (const Subcommand& c : subcommands()) names.push_back(c.name);
  const std::string like = did_you_mean(word, names);
  // It may also be a model file named without its extension: say that none is there either.
  return fmt::format("unknown command '{}'{}, and no file of that name; the commands are {}; see onnx-train --help",
                     word, like, fmt::join(names, ", "));
}

std::string usage_text() {
  std::string out;
  // The help starts at kHelpColumn, on the next line when the command line reaches it.
  const auto add_line = [&out](const std::string& command_line, const std::string& help) {
    std::string line = std::string(out.empty() ? "usage: " : "       ") + command_line;
    const size_t used = line.size() + 2 <= kHelpColumn ? line.size() : 0;
    if (used == 0) line += "\n";
    out += line + std::string(kHelpColumn - used, ' ') + help + "\n";
  };
  std::vector<std::string> also_training;  // the commands besides train that take the training options
  for (const Subcommand& c : subcommands()) {
    add_line(typed_command(c), c.help);
    if (c.training_options && &c != &subcommands().front()) also_training.push_back(c.name);
  }
  add_line("onnx-train COMMAND --help", "a command's own usage and options");
  add_line("onnx-train --version", "the version, the ONNX opsets read and the oneDNN used");
  out += std::string("\n") + kDataHelp + "\n" +
         fmt::format("training options (also taken by {}):\n", fmt::join(also_training, ", ")) +
         train_options_help() + "\n";
  for (const Subcommand& c : subcommands()) out += c.more_help;
  return out;
}

// The training options a command that reads a model (and data) without training uses: how the
// model is read and scored and how the data is found and preprocessed. The others (optimizer,
// schedule, checkpoints...) are accepted and not used, so that a training command line can be
// reused as it is; its help lists only these. Empty: every training option (train, graph).
std::set<std::string> training_options_used_by(const std::string& command) {
  static const std::set<std::string> reading = {
      "--loss",     "--output",     "--label",         "--label-smoothing", "--num-classes", "--keep-head",
      "--freeze",   "--train-only", "--batch-size",    "--val-split",       "--seed",        "--threads",
      "--mean",     "--std",        "--image-size",    "--input",           "--columns",     "--ignore-columns",
      "--skip-bad-samples", "--max-memory", "--lora", "--lora-alpha", "--lora-dropout", "--lora-targets",
      "--lora-adapter"};
  if (command == "eval") {
    std::set<std::string> eval = reading;
    eval.insert("--plot");  // the confusion matrix
    return eval;
  }
  if (command == "predict" || command == "inspect") return reading;
  return {};
}

std::string command_help(const Subcommand& c) {
  std::string out = "usage: " + typed_command(c) + "\n\n" + c.help + "\n";
  if (!c.alias_of.empty()) out += "(an older name of `onnx-train " + c.alias_of + "`)\n";
  if (!c.more_help.empty()) out += "\n" + c.more_help;
  if (c.arguments.find("DATA_DIR") != std::string::npos) out += std::string("\n") + kDataHelp;
  out += "\noptions:\n";
  for (const CommandOption& o : c.options)
    out += option_help_line(fmt::format("{}{}", fmt::join(o.names, ", "), o.metavar.empty() ? "" : " " + o.metavar),
                            o.help);
  out += option_help_line("-h, --help", "this help");
  if (c.training_options) {
    const std::set<std::string> used = training_options_used_by(c.name);
    out += "\ntraining options:\n" + train_options_help(used);
    if (!used.empty())
      out += "  (the other training options are accepted and not used, so a training command line can be reused)\n";
  }
  return out;
}

std::vector<std::string> option_names_of(const std::string& command) {
  std::vector<std::string> names;
  const Subcommand* c = find_command(command);
  if (c == nullptr) return names;
  for (const CommandOption& o : c->options) names.insert(names.end(), o.names.begin(), o.names.end());
  if (c->training_options) {
    const std::vector<std::string> training = train_flag_names();
    names.insert(names.end(), training.begin(), training.end());
  }
  names.push_back("--help");  // every command takes it (main.cc)
  return names;
}

void reject_unknown_options(const std::string& command, const std::vector<std::string>& rest) {
  for (const std::string& arg : rest) {
    if (arg.size() < 2 || arg[0] != '-') continue;
    const std::string name = arg.substr(0, arg.find('='));
    OT_FAIL("{}: unknown option '{}'{}; see onnx-train {} --help", command, name,
            did_you_mean(name, option_names_of(command)), command);
  }
}

std::vector<std::string> take_own_flags(const std::string& command, const std::vector<std::string>& args,
                                        const std::map<std::string, std::function<void(const std::string&)>>& actions) {
  const Subcommand* c = find_command(command);
  OT_CHECK(c != nullptr, "no command '{}' in the subcommand table", command);
  std::vector<CommandFlag> flags;
  for (const CommandOption& o : c->options) {
    const auto action = actions.find(o.names.front());
    OT_CHECK(action != actions.end(), "{}: option {} has no action", command, o.names.front());
    flags.push_back({o.names, o.metavar, action->second});
  }
  OT_CHECK(actions.size() == flags.size(), "{}: an action is bound to a name that is not one of its options", command);
  const std::vector<std::string> rest = take_command_flags(args, flags, command);
  if (!c->training_options) reject_unknown_options(command, rest);
  return rest;
}

}  // namespace onnx_train::cli
