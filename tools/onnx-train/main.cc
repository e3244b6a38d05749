// onnx-train: the command line's entry point. The subcommands are the rows of one table
// (tools/onnx-train/subcommands.cc: name, usage line, help, options, handler), from which
// --help and each `COMMAND --help` are generated; main() answers --help and --version, looks
// the command up, runs its handler and turns what it throws into one line on stderr. Nothing
// here parses a command's options.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "onnx_train/error.h"
#include "onnx_train/printable.h"
#include "tools/onnx-train/subcommands.h"
#include "tools/onnx-train/train_options.h"

namespace {

// OpenMP's worker threads spin while waiting for work by default. Training runs a data
// thread beside them (batches are decoded while the step computes), and spinning workers
// starve it: on the 2-core machine the Fashion-MNIST run went from 41 to 244 samples/s with
// passive waiting. libgomp reads the policy when it loads, before main(), so the process
// re-executes itself once with it set (unless the user chose a policy).
void wait_passively_in_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
}

// Status 1: the command failed; 2: the command line itself is wrong (a usage error).
int fail(const std::string& message, int status = 1) {
  // Escaped, so that bytes of a damaged file (or typed) that reach a message cannot drive the terminal.
  std::cerr << "onnx-train: error: " << onnx_train::printable_message(message) << "\n";
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // A write past the file-size limit (`ulimit -f`, a quota set that way) raises SIGXFSZ,
  // whose default action kills the process with no word, a half-written `.partial` file and
  // the checkpoint folder's lock left behind. Ignored, the write fails with EFBIG instead, and
  // the failure is reported like a full disk's: the file named, the training not lost.
  std::signal(SIGXFSZ, SIG_IGN);
  const std::vector<std::string> args(argv + 1, argv + argc);
  // Nothing to do is a usage error: the usage goes where errors go, and the status says so.
  if (args.empty()) {
    std::cerr << onnx_train::cli::usage_text();
    return 2;
  }
  const auto is_help = [](const std::string& a) { return a == "--help" || a == "-h"; };
  if (args[0] == "--version" || args[0] == "-V") {
    std::cout << onnx_train::cli::version_text();
    return 0;
  }
  // `onnx-train --help` and `onnx-train help [COMMAND]`.
  if (is_help(args[0]) || args[0] == "help") {
    const onnx_train::cli::Subcommand* command =
        args.size() > 1 && args[0] == "help" ? onnx_train::cli::find_command(args[1]) : nullptr;
    std::cout << (command != nullptr ? onnx_train::cli::command_help(*command) : onnx_train::cli::usage_text());
    return 0;
  }
  const onnx_train::cli::CommandLine line = onnx_train::cli::find_subcommand(args);
  if (line.command == nullptr) {
    // Neither a command nor a training option: the nearest of those options, --help or --version.
    const std::string first = args[0].substr(0, args[0].find('='));
    std::vector<std::string> known = onnx_train::cli::option_names_of("train");
    known.push_back("--version");
    return fail(
        "unknown option '" + first + "'" + onnx_train::cli::did_you_mean(first, known) + "; see onnx-train --help", 2);
  }
  // `onnx-train evl m.onnx`: a word that names no file is a mistyped command, not a model.
  if (line.args.size() == args.size()) {
    const std::string unknown = onnx_train::cli::unknown_command_error(args[0]);
    if (!unknown.empty()) return fail(unknown, 2);
  }
  // `onnx-train eval --help` (--help anywhere after the command) asks for that command's help.
  if (std::any_of(line.args.begin(), line.args.end(), is_help)) {
    std::cout << onnx_train::cli::command_help(*line.command);
    return 0;
  }
  if (line.command->passive_openmp) wait_passively_in_openmp(argv);
  try {
    return line.command->run(line.args);
  } catch (const std::bad_alloc&) {
    return fail("out of memory (std::bad_alloc); try a smaller batch (--batch-size; --batch for run)");
  } catch (const onnx_train::OptionError& e) {
    // The library names its options ("num_classes"); the user typed flags (--num-classes).
    return fail(onnx_train::cli::option_error_message(e));
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
