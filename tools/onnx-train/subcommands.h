// The onnx-train subcommands, one row each: the name, the arguments and one line of help the
// usage text shows, more help for the end of the usage text where a command needs it, and the
// function that runs it. main() looks the first argument up here, and --help prints the usage
// generated from the rows, so the two cannot disagree. The options each command takes are
// parsed by the command (train_options.h), not here.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace onnx_train::cli {

struct Subcommand {
  std::string name;       // "eval"; the default command (`onnx-train MODEL.onnx DATA_DIR`) is "train"
  std::string arguments;  // after the name in the usage line: "MODEL.onnx DATA_DIR [options]"
  std::string help;       // one line
  std::string more_help;  // "" or whole lines for the end of the usage text
  // The arguments after the name (all of them for the default command); returns the exit
  // status and throws onnx_train::Error for bad arguments and failures.
  std::function<int(const std::vector<std::string>& args)> run;
  // Whether OpenMP's workers should wait passively (main.cc): true for the commands that
  // train or build training sessions, where a data thread works beside the kernels.
  bool passive_openmp = true;
  std::string alias_of;  // "": a command of its own; else the command this older name stands for
};

// Every subcommand, in the usage text's order.
const std::vector<Subcommand>& subcommands();

// The command a command line asks for, and its arguments.
struct CommandLine {
  const Subcommand* command = nullptr;  // nullptr: an unknown option where a command or MODEL belongs
  std::vector<std::string> args;        // the arguments after the command's name
};

// The subcommand named by args[0] (a name or an alias); the default command (train) with every
// argument when args[0] is no command's name and no option (a model file). `args` is not empty.
CommandLine find_subcommand(const std::vector<std::string>& args);

// The usage text: one line per subcommand, the training options, then each more_help.
std::string usage_text();

}  // namespace onnx_train::cli
