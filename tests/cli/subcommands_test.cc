// The command line's front: the subcommand table (every row found by its name and shown in the
// usage text, a model path or a training option meaning the default train command, a word that
// is no file a mistyped command), the flags a command takes for itself by its row's names, the
// suggestions for a mistyped name, kinds in any case, the library's option errors printed in
// flag terms, and `graph` with --minimise (the former training-graph, whose old spelling still
// works) run as a user runs it.
#include "tools/onnx-train/subcommands.h"

#include <gtest/gtest.h>

#include "tests/cli/cli_harness.h"
#include "tests/support/kernel_harness.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {
namespace {

using testing::error_of;

TEST(CliSubcommands, EveryRowIsFoundByItsNameAndShownInTheUsage) {
  const std::string usage = usage_text();
  for (const Subcommand& c : subcommands()) {
    const CommandLine line = find_subcommand({c.name, "x.onnx"});
    ASSERT_EQ(line.command, &c) << c.name;
    EXPECT_EQ(line.args, std::vector<std::string>{"x.onnx"}) << c.name;
    EXPECT_HAS(usage, c.help);
    if (c.name != "train") EXPECT_HAS(usage, "onnx-train " + c.name + " " + c.arguments);
    if (!c.alias_of.empty()) {
      const CommandLine target = find_subcommand({c.alias_of});
      EXPECT_TRUE(target.command != nullptr && target.command->alias_of.empty()) << c.name << " -> " << c.alias_of;
    }
  }
  // The default command is shown as typed, first; the training options and each command's
  // further help follow.
  EXPECT_EQ(usage.rfind("usage: onnx-train MODEL.onnx DATA_DIR [options] ", 0), 0u) << usage;
  EXPECT_HAS(usage, "training options (also taken by eval, predict, inspect, graph):\n  --loss KIND");
  EXPECT_HAS(usage, "\n       onnx-train COMMAND --help");
  EXPECT_HAS(usage, "\n       onnx-train --version");
  EXPECT_HAS(usage, "\nrun: load MODEL.onnx");
  EXPECT_HAS(usage, "\ngraph: with --minimise VALUE");
  EXPECT_HAS(usage, "\ntraining-graph: its --loss VALUE is graph's --minimise VALUE");
}

TEST(CliSubcommands, AModelPathMeansTrainAndAnOptionFirstIsUnknown) {
  const CommandLine train = find_subcommand({"m.onnx", "data", "--epochs", "2"});
  ASSERT_NE(train.command, nullptr);
  EXPECT_EQ(train.command->name, "train");
  EXPECT_EQ(train.args, (std::vector<std::string>{"m.onnx", "data", "--epochs", "2"}));
  EXPECT_EQ(find_subcommand({"--bogus"}).command, nullptr);
  EXPECT_EQ(find_subcommand({"-x", "m.onnx"}).command, nullptr);
  // A training option first still means training.
  for (const char* first : {"--quiet", "--lr=0.1", "-o", "--resume"})
    EXPECT_EQ(find_subcommand({first, "m.onnx", "data"}).command, &subcommands().front()) << first;
}

// A word that names no file and has no extension or folder is a command mistyped.
TEST(CliSubcommands, AWordThatIsNoFileIsAnUnknownCommand) {
  EXPECT_HAS(unknown_command_error("evl"), "unknown command 'evl' (did you mean eval?)");
  EXPECT_HAS(unknown_command_error("ospx"),
             "unknown command 'ospx', and no file of that name; the commands are train, eval, predict, inspect");
  EXPECT_EQ(unknown_command_error("m.onnx"), "");
  EXPECT_EQ(unknown_command_error("models/m"), "");
  EXPECT_EQ(unknown_command_error("-x"), "");  // an option, not a word
}

// The suggestions behind every "did you mean": a couple of edits (a swap counting one, the
// nearest only), a word begun, a prefix typed, another tool's spelling; nothing when far.
TEST(CliSuggestions, TheNearestNamesOnly) {
  const std::vector<std::string> optimizers = {"sgd", "adam", "adamw", "adagrad", "rmsprop", "lamb"};
  EXPECT_EQ(did_you_mean("adamm", optimizers), " (did you mean adam?)");
  EXPECT_EQ(did_you_mean("sdg", optimizers), " (did you mean sgd?)");
  EXPECT_EQ(did_you_mean("ADAMW", optimizers), " (did you mean adamw?)");
  EXPECT_EQ(did_you_mean("zzz", optimizers), "");
  const std::vector<std::string> run_flags = {"--input", "--batch", "--repeat", "--profile"};
  EXPECT_EQ(did_you_mean("--batch-size", run_flags), " (did you mean --batch?)");
  EXPECT_EQ(did_you_mean("--pro", run_flags), " (did you mean --profile?)");
  const std::vector<std::string> training = train_flag_names();
  EXPECT_EQ(did_you_mean("--learning-rate", training), " (did you mean --lr?)");
  EXPECT_EQ(did_you_mean("--batchsize", training), " (did you mean --batch-size?)");
  EXPECT_EQ(did_you_mean("--out", {"-o", "--export"}), " (did you mean -o?)");
  EXPECT_EQ(did_you_mean("--check", training), " (did you mean --checkpoint-dir or --checkpoint-every?)");
  // "o" begins no word: not every option starting with o.
  EXPECT_EQ(did_you_mean("--optimiser", training), " (did you mean --optimizer?)");
  EXPECT_EQ(did_you_mean("-", training), "");
}

// A handler binds the options of its row by their first names; a name the row lacks, or an
// option left unbound, is the program's mistake and said so.
TEST(CliCommandFlags, TakenByTheNamesOfTheRow) {
  std::string out;
  const std::vector<std::string> rest =
      take_own_flags("export", {"c.ckpt", "--export=o.onnx"},
                     {{"-o", [&](const std::string& v) { out = v; }},
                      {"--max-memory", [](const std::string&) {}},
                      {"--lora-adapter", [](const std::string&) {}},
                      {"--external-data", [](const std::string&) {}}});
  EXPECT_EQ(rest, std::vector<std::string>{"c.ckpt"});
  EXPECT_EQ(out, "o.onnx");
  EXPECT_HAS(error_of([&] { take_own_flags("export", {"c.ckpt"}, {}); }), "export: option -o has no action");
  EXPECT_HAS(
      error_of([&] {
        take_own_flags("export", {"c.ckpt"},
                       {{"-o", [](const std::string&) {}},
                        {"--max-memory", [](const std::string&) {}},
                        {"--lora-adapter", [](const std::string&) {}},
                        {"--external-data", [](const std::string&) {}},
                        {"--x", [](const std::string&) {}}});
      }),
      "not one of its options");
  // export takes no training options: any other option is refused here, the nearest named.
  EXPECT_HAS(error_of([&] {
               take_own_flags("export", {"c.ckpt", "--output", "x"},
                              {{"-o", [](const std::string&) {}},
                               {"--max-memory", [](const std::string&) {}},
                               {"--lora-adapter", [](const std::string&) {}},
                               {"--external-data", [](const std::string&) {}}});
             }),
             "export: unknown option '--output' (did you mean -o?); see onnx-train export --help");
  // graph takes them: the rest is for parse_train_args, whose suggestions include graph's own.
  EXPECT_EQ(take_own_flags("graph", {"m.onnx", "--lr", "1", "-o", "g.onnx"},
                           {{"-o", [](const std::string&) {}},
                            {"--minimise", [](const std::string&) {}},
                            {"--input-grad", [](const std::string&) {}}}),
            (std::vector<std::string>{"m.onnx", "--lr", "1"}));
  EXPECT_HAS(error_of([&] {
               parse_train_args({"m.onnx", "--minimize", "y"}, false, "graph");
             }),
             "graph: unknown option '--minimize' (did you mean --minimise?); see onnx-train graph --help");
}

// The kinds are lower-cased where they are parsed, so checkpoints keep one spelling.
TEST(CliTrainArgs, KindsInAnyCaseAreKeptLowerCase) {
  const TrainConfig c = parse_train_args(
      {"m.onnx", "d", "--optimizer", "SGD", "--loss=Cross-Entropy", "--schedule", "StEp:step_size=10,gamma=0.5"});
  EXPECT_EQ(c.training.optimizer.kind, "sgd");
  EXPECT_EQ(c.loss, "cross-entropy");
  EXPECT_EQ(c.schedule, "step:step_size=10,gamma=0.5");
  EXPECT_EQ(c.args, (std::vector<std::string>{"m.onnx", "d", "--optimizer", "sgd", "--loss", "cross-entropy",
                                              "--schedule", "step:step_size=10,gamma=0.5"}));
  EXPECT_EQ(parse_train_args({"m.onnx", "d", "--loss", "NONE"}).loss, "none");
  EXPECT_HAS(error_of([] {
               parse_train_args({"m.onnx", "d", "--loss", "cross_entropy"});
             }),
             "--loss cross_entropy: unknown kind (did you mean cross-entropy?); the kinds are cross-entropy, nll, mse");
}

TEST(CliSubcommands, OnlyTheCommandsThatTrainMakeOpenMpWaitPassively) {
  for (const Subcommand& c : subcommands()) {
    const bool alone = c.name == "run" || c.name == "ops" || c.name == "training-graph";
    EXPECT_EQ(c.passive_openmp, !alone) << c.name;
  }
}

TEST(CliCommandFlags, TakenOutWithTheirValuesTheRestKeptInOrder) {
  std::string out;
  std::vector<std::string> grads;
  bool profile = false;
  const std::vector<CommandFlag> flags = {{{"-o", "--export"}, "PATH", [&](const std::string& v) { out = v; }},
                                          {{"--input-grad"}, "NAME", [&](const std::string& v) { grads.push_back(v); }},
                                          {{"--profile"}, "", [&](const std::string&) { profile = true; }}};
  const std::vector<std::string> rest = take_command_flags(
      {"m.onnx", "--input-grad", "x", "--lr", "0.1", "--export=o.onnx", "--input-grad=y", "--profile"}, flags, "graph");
  EXPECT_EQ(rest, (std::vector<std::string>{"m.onnx", "--lr", "0.1"}));
  EXPECT_EQ(out, "o.onnx");
  EXPECT_EQ(grads, (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(profile);
  EXPECT_HAS(error_of([&] { take_command_flags({"m.onnx", "-o"}, flags, "graph"); }), "graph: -o needs a value (PATH)");
  EXPECT_HAS(error_of([&] { take_command_flags({"--profile=1"}, flags, "run"); }), "run: --profile takes no value");
  EXPECT_EQ(the_one_argument({"m.onnx"}, "needs a model"), "m.onnx");
  EXPECT_HAS(error_of([&] { the_one_argument({}, "run needs a model file"); }), "run needs a model file");
  EXPECT_HAS(error_of([&] { the_one_argument({"m.onnx", "n.onnx"}, ""); }), "unexpected argument 'n.onnx'");
  EXPECT_HAS(error_of([&] { the_one_argument({"--bogus", "m.onnx"}, ""); }), "unexpected argument '--bogus'");
}

// The library names its options as TrainingOptions does; the command line, by the flags that set them.
TEST(CliOptionErrors, NamedByTheFlagThatSetsTheOption) {
  EXPECT_EQ(option_error_message(OptionError("num_classes", "0: a classifier needs at least 1 class")),
            "--num-classes: 0: a classifier needs at least 1 class");
  EXPECT_EQ(option_error_message(OptionError("freeze", "pattern '(' is not a valid regular expression")),
            "--freeze: pattern '(' is not a valid regular expression");
  EXPECT_EQ(option_error_message(OptionError("train_only", "x")), "--train-only: x");
  // Where it was met (the model file) stays in front, as the library's what() has it.
  EXPECT_EQ(option_error_message(OptionError("num_classes", "output 'y' is computed by Add", "m.onnx")),
            "m.onnx: --num-classes: output 'y' is computed by Add");
  // An option no flag sets keeps the library's words.
  EXPECT_EQ(option_error_message(OptionError("no_decay", "pattern '(' is bad")), "no_decay: pattern '(' is bad");
}

}  // namespace
}  // namespace onnx_train::cli

namespace onnx_train::cli_test {
namespace {

class CliGraph : public CliTest {};

// graph --minimise VALUE differentiates a value of the model itself; training-graph, its older
// name, takes the value as --loss and writes the same file.
TEST_F(CliGraph, MinimiseWritesTheGradientGraphOfAValueAndTheOldNameStillWorks) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  const CliRun r = ok({"graph", model, "--minimise", "logits", "--freeze", "^fc1\\.", "-o", path("new/g.onnx")});
  EXPECT_HAS(r.out, "wrote " + path("new/g.onnx") + ": ");
  EXPECT_HAS(r.out, "gradients of 2 values:\n");
  EXPECT_HAS(r.out, "  fc2.weight -> ");
  EXPECT_LACKS(r.out, "fc1.weight");
  const CliRun old = ok({"training-graph", model, "--loss", "logits", "--freeze", "^fc1\\.", "-o", path("old.onnx")});
  EXPECT_HAS(old.out, "gradients of 2 values:\n");
  EXPECT_EQ(read_file(path("old.onnx")), read_file(path("new/g.onnx")));
  // --train-only, as in training: only the matching weights get a gradient.
  const CliRun only = ok({"graph", model, "--minimise", "logits", "--train-only", "^fc2\\.", "-o", path("only.onnx")});
  EXPECT_HAS(only.out, "gradients of 2 values:\n");
  EXPECT_HAS(only.out, "  fc2.weight -> ");
  EXPECT_LACKS(only.out, "fc1.weight");
  // training-graph's options are its own: --train-only passes to graph, a training option is refused.
  ok({"training-graph", model, "--loss", "logits", "--train-only", "^fc2\\.", "-o", path("old_only.onnx")});
  EXPECT_EQ(read_file(path("old_only.onnx")), read_file(path("only.onnx")));
  fails({"training-graph", model, "--loss", "logits", "--lr", "1", "-o", path("x.onnx")},
        {"training-graph: unknown option '--lr'"});
  // graph's --loss is a loss kind: with --minimise, options about a loss or a step are refused.
  fails({"graph", model, "--minimise", "logits", "--optimizer", "sgd", "-o", path("x.onnx")},
        {"--optimizer does not apply", "--freeze REGEX, --train-only REGEX and --input-grad NAME"});
  fails({"graph", model, "--input-grad", "x", "-o", path("x.onnx")}, {"--input-grad goes with --minimise VALUE"});
  fails({"training-graph", model, "-o", path("x.onnx")}, {"training-graph needs MODEL.onnx, --loss NAME"});
  EXPECT_FALSE(fs::exists(path("x.onnx")));
}

}  // namespace
}  // namespace onnx_train::cli_test
