// The onnx-train subcommands, one row each: the name, the arguments and one line of help the
// usage text shows, more help, the options the command takes, and the function that runs it.
// main() looks the first argument up here; `onnx-train --help` and `onnx-train COMMAND --help`
// are generated from the rows, and the handlers take their own flags by the names the row
// gives (take_own_flags), so help, parsing and suggestions for a mistyped flag cannot disagree.
//
// Adding a command (say `predict MODEL DATA -o predictions.csv`):
//   1. a row in subcommands.cc, in the place the usage text should show it:
//        {"predict", "MODEL.onnx DATA_DIR -o OUT.csv [options]", "one row of predictions per sample",
//         "", predict_command, /*passive_openmp=*/true, /*alias_of=*/"",
//         /*options=*/{{{"-o"}, "PATH", "where to write the predictions (CSV)"}},
//         /*training_options=*/true},
//      (an own option takes precedence over a training option of the same name: graph's -o is
//      its output file, not the trained model's; so do not name one --output, the loss's output)
//   2. in the handler, bind each of the row's options to what it does, by its first name,
//      then hand the rest to parse_train_args with the command's name (for a command without
//      the training options, take_own_flags itself refuses any other option):
//        std::string out;
//        const auto rest = take_own_flags("predict", args, {{"-o", [&](const std::string& v) { out = v; }}});
//        const TrainConfig config = parse_train_args(rest, /*need_data=*/true, "predict");
//   `onnx-train predict --help` then lists -o and the training options, and `predict --out x`
//   suggests -o. tests/cli/help_cli_test.cc runs every row's --help through the binary.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace onnx_train::cli {

// One option of a command's own, as its --help lists it and its handler takes it.
struct CommandOption {
  std::vector<std::string> names;  // {"-o", "--export"}; the first is the name the handler binds
  std::string metavar;             // the value's name, "N"; "" for a switch
  std::string help;                // one sentence
};

struct Subcommand {
  std::string name;       // "eval"; the default command (`onnx-train MODEL.onnx DATA_DIR`) is "train"
  // After the name in the usage line: the positional arguments and the options a run cannot do
  // without, then "[options]" for the rest, which `COMMAND --help` lists: "MODEL.onnx DATA_DIR [options]".
  std::string arguments;
  std::string help;       // one line
  std::string more_help;  // "" or whole lines, shown by `COMMAND --help` and at the end of the usage text
  // The arguments after the name (all of them for the default command); returns the exit
  // status and throws onnx_train::Error for bad arguments and failures.
  std::function<int(const std::vector<std::string>& args)> run;
  // Whether OpenMP's workers should wait passively (main.cc): true for the commands that
  // train or build training sessions, where a data thread works beside the kernels.
  bool passive_openmp = true;
  std::string alias_of;                     // "": a command of its own; else the command this older name stands for
  std::vector<CommandOption> options = {};  // the command's own flags, in its --help's order
  // Whether it also takes the training options (train_options.h: --loss, --freeze, ...),
  // listed by its --help after its own.
  bool training_options = false;
};

// Every subcommand, in the usage text's order.
const std::vector<Subcommand>& subcommands();

// The row named `name` (not an alias's target); nullptr when there is none.
const Subcommand* find_command(const std::string& name);

// The command a command line asks for, and its arguments.
struct CommandLine {
  const Subcommand* command = nullptr;  // nullptr: an unknown option where a command or MODEL belongs
  std::vector<std::string> args;        // the arguments after the command's name
};

// The subcommand named by args[0] (a name or an alias); the default command (train) with every
// argument when args[0] is no command's name and no option (a model file). `args` is not empty.
CommandLine find_subcommand(const std::vector<std::string>& args);

// "" when `word` (the first argument, taken for a model file) may be one; else the error for a
// word that looks like a mistyped command: no file of that name, no '.' or '/' in it
// ("unknown command 'evl' (did you mean eval?); see onnx-train --help").
std::string unknown_command_error(const std::string& word);

// The usage text of `onnx-train --help`: one line per subcommand, the data, the training
// options, then each more_help.
std::string usage_text();

// The help of one command, for `onnx-train COMMAND --help`: its usage line, what it does, its
// more_help, its own options and (when it takes them) the training options.
std::string command_help(const Subcommand& command);

// `onnx-train --version`: the version, the ONNX opsets read and the oneDNN linked.
std::string version_text();

// `args` without the own options of `command` (its row's `options`), each given to the action
// bound to its first name, in the order given; the other arguments stay, in their order. A
// command without the training options also has every other option refused here, with the
// nearest of its own suggested. Throws an Error for a missing value or an unknown option.
std::vector<std::string> take_own_flags(const std::string& command, const std::vector<std::string>& args,
                                        const std::map<std::string, std::function<void(const std::string&)>>& actions);

// An Error for the first argument of `rest` that is an option ("-x", "--name"): no option of
// `command` has that name; the nearest of its options (and of the training options when it
// takes them) is suggested.
void reject_unknown_options(const std::string& command, const std::vector<std::string>& rest);

// The names an unknown option is suggested against for `command` (none for no command): its
// own options' names, then the training options' when it takes them, and --help.
std::vector<std::string> option_names_of(const std::string& command);

}  // namespace onnx_train::cli
