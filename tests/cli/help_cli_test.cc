// The command line's own answers, through the real binary: each command's --help (generated
// from its row of the subcommand table), --version, bare `onnx-train` as a usage error, the
// nearest option or command suggested for a mistyped one in every command, and the kinds of
// --loss / --optimizer / --schedule taken in any case.
#include <regex>

#include "tests/cli/cli_harness.h"
#include "tools/onnx-train/subcommands.h"

namespace onnx_train::cli_test {
namespace {

class CliHelp : public CliTest {};

// The help text with its wrapped lines joined again (a line break and the indentation of the
// help column read as one space), so that an option's help is found whole.
std::string unwrapped(const std::string& help) {
  std::string out;
  for (size_t i = 0; i < help.size(); ++i) {
    if (help[i] == '\n' && help.compare(i + 1, 30, std::string(30, ' ')) == 0) {
      out += ' ';
      i += 30;
    } else {
      out += help[i];
    }
  }
  return out;
}

// `onnx-train COMMAND --help` (or -h): that command's usage line, what it does, its own options
// and, for the commands that take them, the training options; on stdout, exit 0, whatever else
// is on the line.
TEST_F(CliHelp, EveryCommandPrintsItsOwnHelp) {
  for (const cli::Subcommand& c : cli::subcommands()) {
    const bool is_default = &c == &cli::subcommands().front();
    const std::string usage =
        "usage: onnx-train" + (is_default ? "" : " " + c.name) + (c.arguments.empty() ? "" : " " + c.arguments) + "\n";
    for (const char* flag : {"--help", "-h"}) {
      const CliRun r = run({c.name, "x.onnx", flag});
      EXPECT_EQ(r.code, 0) << r.show();
      EXPECT_EQ(r.err, "") << r.show();
      EXPECT_EQ(r.out.rfind(usage, 0), 0u) << r.show();
      EXPECT_HAS(r.out, "\n" + c.help + "\n");
      EXPECT_HAS(r.out, "\noptions:\n");
      for (const cli::CommandOption& o : c.options) {
        for (const std::string& name : o.names) EXPECT_HAS(r.out, name);
        EXPECT_HAS(unwrapped(r.out), o.help);
      }
      EXPECT_HAS(r.out, "  -h, --help");
      // Option help wraps within 100 columns.
      for (const std::string& line : lines_of(r.out))
        if (line.rfind("  -", 0) == 0 || line.rfind(std::string(30, ' '), 0) == 0)
          EXPECT_LE(line.size(), 100u) << line;
      // The training options only where they apply; no other command's usage line.
      if (c.training_options) {
        EXPECT_HAS(r.out, "\ntraining options:\n  --loss KIND");
      } else {
        EXPECT_LACKS(r.out, "training options");
        EXPECT_LACKS(r.out, "--epochs");
      }
      for (const cli::Subcommand& other : cli::subcommands())
        if (&other != &c && &other != &cli::subcommands().front())
          EXPECT_LACKS(r.out, "onnx-train " + other.name + " ");
    }
  }
  // The command's own options in the order of its row, each with its help.
  const CliRun run_help = ok({"run", "--help"});
  EXPECT_HAS(run_help.out, "\n  --input NAME=FILE.pb        feed model input NAME from a TensorProto file");
  EXPECT_HAS(run_help.out, "\n  --batch N                   the size of the model's dynamic dimensions");
  const size_t options = run_help.out.find("\noptions:\n");
  EXPECT_LT(run_help.out.find("--input", options), run_help.out.find("--profile", options));
  const CliRun graph_help = ok({"graph", "-h"});
  EXPECT_HAS(graph_help.out, "\n  -o, --export PATH           the file to write the graph to\n");
  EXPECT_HAS(graph_help.out, "graph: with --minimise VALUE instead of a loss");
  EXPECT_HAS(ok({"eval", "--help"}).out, "DATA_DIR holds train/ and optionally val/");
  // Commands that read a model without training list the training options they use, not the
  // optimizer's or the checkpoints'; training lists them all.
  const CliRun eval_help = ok({"eval", "--help"});
  EXPECT_HAS(eval_help.out, "\n  --val-split F ");
  EXPECT_HAS(eval_help.out, "\n  --image-size H,W ");
  EXPECT_LACKS(eval_help.out, "--augment");
  EXPECT_LACKS(eval_help.out, "--save-best");
  EXPECT_HAS(eval_help.out, "the other training options are accepted and not used");
  EXPECT_LACKS(ok({"predict", "--help"}).out, "--lr X");
  EXPECT_HAS(ok({"train", "--help"}).out, "\n  --augment LIST ");
  // After a model and data, --help is the default command's.
  const CliRun train_help = ok({"model.onnx", "data", "--epochs", "2", "--help"});
  EXPECT_EQ(train_help.out.rfind("usage: onnx-train MODEL.onnx DATA_DIR [options]\n", 0), 0u);
  EXPECT_HAS(train_help.out, "train: --profile times every node");
  // `onnx-train help COMMAND` as git has it.
  EXPECT_EQ(ok({"help", "export"}).out, ok({"export", "--help"}).out);
}

// Asked for, the usage is an answer (stdout, 0); with nothing to do, it is a usage error (stderr, 2).
TEST_F(CliHelp, TheUsageGoesToStdoutWhenAskedAndToStderrWithExit2WhenNothingIsGiven) {
  for (const char* flag : {"--help", "-h"}) {
    const CliRun r = ok({flag});
    EXPECT_EQ(r.out.rfind("usage: onnx-train MODEL.onnx DATA_DIR [options] ", 0), 0u) << r.show();
    for (const cli::Subcommand& c : cli::subcommands()) EXPECT_HAS(r.out, c.help);
    EXPECT_HAS(r.out, "onnx-train COMMAND --help");
    EXPECT_HAS(r.out, "onnx-train --version");
    EXPECT_HAS(r.out, "training options (also taken by eval, predict, inspect, graph):\n");
  }
  const CliRun bare = run({});
  EXPECT_EQ(bare.code, 2) << bare.show();
  EXPECT_EQ(bare.out, "") << bare.show();
  EXPECT_EQ(bare.err, ok({"--help"}).out);
}

TEST_F(CliHelp, VersionNamesTheReleaseTheOpsetsAndOneDnn) {
  const CliRun r = ok({"--version"});
  EXPECT_TRUE(std::regex_search(r.out, std::regex("^onnx-train [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << r.show();
  EXPECT_HAS(r.out, "ONNX opsets: default domain 7 to 23 (older models are upgraded to 7; 18 to 23 are lowered to 17");
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\noneDNN [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << r.show();
  EXPECT_EQ(ok({"-V"}).out, r.out);
}

// A mistyped option names the nearest among the options the command takes: its own, and the
// training options when it takes them.
TEST_F(CliHelp, AMistypedOptionSuggestsTheNearestInEveryCommand) {
  write_npy_data(path("data"), separable(16, 1));
  const std::string model = make_mlp(path("mlp.onnx"), false);
  fails({"run", model, "--batch-size", "4"},
        {"run: unknown option '--batch-size' (did you mean --batch?)", "see onnx-train run --help"});
  fails({"run", model, "--repaet", "3"}, {"(did you mean --repeat?)"});
  fails({"eval", model, path("data"), "--batchsize", "8"},
        {"unknown option '--batchsize' (did you mean --batch-size?)"});
  fails({"inspect", model, "--frezee", "x"}, {"unknown option '--frezee' (did you mean --freeze?)"});
  fails({model, path("data"), "--learning-rate", "0.1"}, {"unknown option '--learning-rate' (did you mean --lr?)"});
  // graph's own options are suggested beside the training options.
  fails({"graph", model, "--minimize", "logits", "-o", path("g.onnx")},
        {"graph: unknown option '--minimize' (did you mean --minimise?)", "see onnx-train graph --help"});
  fails({"graph", model, "--out", path("g.onnx")}, {"graph: unknown option '--out' (did you mean -o?)"});
  // --output is graph's too (the output the loss reads): without -o, the message tells them apart.
  fails({"graph", model, "--output", path("g.onnx")},
        {"graph needs -o PATH", "(--output NAME is the model output the loss reads)"});
  fails({"export", path("x.ckpt"), "--output", path("m.onnx")},
        {"export: unknown option '--output' (did you mean -o?)"});
  fails({"training-graph", model, "--los", "logits", "-o", path("g.onnx")}, {"(did you mean --loss?)"});
  fails({"ops", "--all"}, {"ops: unknown option '--all'"});
  fails({"ops", "--hlep"}, {"ops: unknown option '--hlep' (did you mean --help?)"});
  fails({model, path("data"), "--hepl"}, {"unknown option '--hepl' (did you mean --help?)"});
  EXPECT_FALSE(fs::exists(path("g.onnx")));
  // Nothing near: no guess.
  const CliRun far = fails({"run", model, "--zzzz"}, {"run: unknown option '--zzzz'; see onnx-train run --help"});
  EXPECT_LACKS(far.err, "did you mean");
}

// A first word that names no file is a mistyped command, not a model that is missing.
TEST_F(CliHelp, AnUnknownCommandSuggestsTheNearest) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  const CliRun evl = run({"evl", model, "data"});
  EXPECT_EQ(evl.code, 2) << evl.show();
  EXPECT_EQ(evl.err.rfind("onnx-train: error: unknown command 'evl' (did you mean eval?), and no file of that name; "
                          "the commands are train, eval,",
                          0),
            0u)
      << evl.show();
  EXPECT_HAS(run({"inpsect", model}).err, "unknown command 'inpsect' (did you mean inspect?)");
  EXPECT_HAS(run({"frobnicate", model}).err,
             "unknown command 'frobnicate', and no file of that name; the commands are");
  // A file of that name is a model (here a bad one), as before; so is a path that does not exist.
  write_file(work_ + "/evl", "not a model");  // where the binary runs
  EXPECT_LACKS(run({"evl", "data"}).err, "unknown command");
  EXPECT_LACKS(run({"missing.onnx", "data"}).err, "unknown command");
  // An option first that is no training option.
  const CliRun option = run({"--verison"});
  EXPECT_EQ(option.code, 2);
  EXPECT_HAS(option.err, "unknown option '--verison' (did you mean --version?)");
  EXPECT_HAS(run({"--epoch", "2", model, "data"}).err, "unknown option '--epoch' (did you mean --epochs?)");
}

// The kinds are taken in any case and kept lower-case, so a resumed run given another case
// is the same run; a wrong kind lists them, nearest first.
TEST_F(CliHelp, KindsAreTakenInAnyCaseAndAWrongOneListsThem) {
  write_npy_data(path("data"), separable(32, 1));
  const std::string model = make_mlp(path("mlp.onnx"), false);
  const std::vector<std::string> common = {model,      path("data"), "--batch-size", "8", "--quiet", "--checkpoint-dir",
                                           path("ck"), "-o",         path("m.onnx")};
  std::vector<std::string> first = common;
  first.insert(first.end(), {"--optimizer", "SGD", "--loss", "Cross-Entropy", "--schedule", "Cosine:eta_min=0.0001"});
  ok(first);
  // The checkpoint keeps the kinds as the library takes them: resuming with them lower-case (one
  // more epoch) changes nothing that matters.
  std::vector<std::string> resumed = common;
  resumed.insert(resumed.end(), {"--optimizer", "sgd", "--loss", "cross-entropy", "--schedule", "cosine:eta_min=0.0001",
                                 "--epochs", "2", "--resume"});
  const CliRun r = ok(resumed);
  EXPECT_LACKS(r.out, "in the checkpoint");
  EXPECT_LACKS(r.err, "in the checkpoint");
  fails(
      {model, path("data"), "--optimizer", "adamm"},
      {"--optimizer adamm: unknown kind (did you mean adam?); the kinds are sgd, adam, adamw, adagrad, rmsprop, lamb"});
  fails({model, path("data"), "--optimizer", "SDG"}, {"--optimizer SDG: unknown kind (did you mean sgd?)"});
  fails({model, path("data"), "--loss", "MSEE"},
        {"--loss MSEE: unknown kind (did you mean mse?)", "bce-with-logits, none"});
  fails({model, path("data"), "--schedule", "Cosin:eta_min=0"},
        {"--schedule Cosin: unknown kind (did you mean cosine?)"});
  const CliRun far =
      fails({model, path("data"), "--optimizer", "zzzz"}, {"--optimizer zzzz: unknown kind; the kinds are"});
  EXPECT_LACKS(far.err, "did you mean");
  EXPECT_FALSE(fs::exists(path("ck2")));
}

}  // namespace
}  // namespace onnx_train::cli_test
