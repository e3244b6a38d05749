// The options of `onnx-train MODEL.onnx DATA_DIR` (and of eval / export, which rebuild the
// same session): one table gives each flag, its help text and what it sets, so that --help,
// parsing and the copy kept in checkpoints cannot drift apart. Also the pieces every
// subcommand parses its own flags with, and the flags the library's option names stand for.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "onnx_train/dataset.h"
#include "onnx_train/error.h"
#include "onnx_train/training_session.h"

namespace onnx_train::cli {

struct TrainConfig {
  std::string model, data;
  TrainingOptions training;            // loss, optimizer, lr, clipping, seed, freeze...
  std::string loss = "cross-entropy";  // --loss; "none": the model outputs its loss
  std::string schedule = "constant";   // --schedule: a kind or a full "kind:key=value,..." spec
  int64_t warmup_steps = 0;
  int64_t batch_size = 32;
  int64_t epochs = 1;
  int64_t max_steps = 0;  // 0: epochs decide
  bool shuffle = true, drop_last = false;
  int threads = 0;  // 0: every core
  double val_split = 0;
  std::string checkpoint_dir;
  int64_t checkpoint_every = 0;  // optimizer steps; 0: at each epoch's end only
  int64_t keep_checkpoints = 3;
  int64_t eval_every = 0;      // optimizer steps; 0: validation at epoch ends only
  int64_t early_stopping = 0;  // patience, in validations without improvement; 0: none
  std::string early_stopping_metric = "val_loss";
  double early_stopping_min_delta = 0;
  std::string save_best;       // "": none; else val_loss or val_accuracy
  std::string save_best_path;  // "": the export's name with .best (best_model_observer.h)
  std::optional<std::string> resume;  // "" = the newest checkpoint in checkpoint_dir
  std::string export_path;            // "": <model stem>.trained.onnx in the current folder
  std::string export_training_path;
  std::string log_path, plot_path;
  std::string tensorboard_dir;  // --tensorboard: event files are written in it
  bool plot_log_scale = false;
  bool quiet = false;
  std::vector<float> mean, std;   // image normalisation
  int64_t image_height = 0, image_width = 0;  // --image-size; 0: the model input's
  ImageAugmentation augment;                  // --augment: training images only
  int workers = 0;                            // --workers: threads reading a batch; 0: by the data
  // Where the data of each model input is (--input NAME=SOURCE), and csv's feature columns
  // (--columns) and columns left out (--ignore-columns): DataOptions' sources, columns and
  // ignore_columns.
  std::map<std::string, std::string> inputs;
  std::vector<std::string> columns, ignore_columns;
  bool skip_bad_samples = false;  // leave out samples that cannot be read or fail the checks
  bool skip_nonfinite = false;    // leave out batches whose step comes out NaN or Inf
  bool keep_head = false;         // train a classifier with more outputs than the data's classes
  // Data-parallel training (under mpirun, or --distributed): gradient bucket size, synchronised
  // BatchNormalization statistics, and how long a rank waits for the others.
  bool distributed = false;
  double bucket_mb = 25;
  bool sync_batchnorm = false;
  double dist_timeout = 600;  // seconds

  // The arguments that built this config (minus --resume), kept in checkpoints so that
  // `onnx-train export CHECKPOINT` and --resume rebuild the same session.
  std::vector<std::string> args;
};

// Parses the training command's arguments (after the program name): MODEL DATA [options].
// With `need_data` false (export), DATA is not expected. Throws an Error for an unknown flag
// (suggesting the nearest of the training options and, when `command` names a subcommand, of
// that command's own), a missing or malformed value, or a value out of range, naming the flag.
// The kinds of --loss, --optimizer and --schedule are taken in any case and kept lower-case
// (in the config and in `args`).
TrainConfig parse_train_args(const std::vector<std::string>& args, bool need_data = true,
                             const std::string& command = "");

// --max-memory SIZE, a training option that run and export take too: it sets the library's
// process-wide memory limit (onnx_train/limits.h) and is not kept in checkpoints.
inline const std::string kMaxMemoryFlag = "--max-memory";
inline const std::string kMaxMemoryHelp =
    "refuse a model, data or training plan needing more memory than SIZE (512M, 4G, 1.5GiB; default auto: the "
    "memory available, or the process's ulimit if lower)";
void set_max_memory(const std::string& value);

// --external-data auto|always|never, a training option that export takes too: whether the
// written models and checkpoints keep their tensors in a "<file>.data" beside them.
inline const std::string kExternalDataFlag = "--external-data";
inline const std::string kExternalDataHelp =
    "auto, always or never: write models and checkpoints with their weights in FILE.data beside them (ONNX "
    "external data; needed past 2 GB). auto (default): when the model had external data or above 1.5 GiB";
ExternalDataMode parse_external_data(const std::string& value);

// The options part of --help.
// The training options' part of a help text: every one, or (`only` not empty) those named there.
std::string train_options_help(const std::set<std::string>& only = {});

// One line of an options list: `names` ("-o, --export PATH") then `help` from column 30 (on
// the next line when the names reach it).
std::string option_help_line(const std::string& names, const std::string& help);

// Whether `name` ("--lr", "-o", "--resume") is a training option, and all their names.
bool is_train_flag(const std::string& name);
std::vector<std::string> train_flag_names();

// " (did you mean --epochs?)" for what `typed` (an option, a command, a value) was probably
// meant as among `known`: those within a couple of edits (a swap of two letters counts one),
// those it begins or that begin it as a word ("--batch-size" for run's --batch), or a usual
// other spelling ("--learning-rate" for --lr, "--output" for -o); "" when none or more than
// three are close. Compared without case and leading dashes.
std::string did_you_mean(const std::string& typed, const std::vector<std::string>& known);

// Whether option `name` (as TrainConfig::args spells it: the long name) takes a value; false
// for a switch, and for a name that is no option (a positional argument).
bool train_flag_takes_value(const std::string& name);

// The message of an OptionError in the command line's terms: "[context: ]--num-classes: <detail>"
// for an option a flag sets (the table next to the flags in train_options.cc), what() unchanged
// for an option no flag sets.
std::string option_error_message(const OptionError& error);

// A flag of one subcommand's own (run's --batch, graph's -o), taken out of its arguments
// before the rest are parsed: its names, its value's name ("" for a switch), and what it does
// with the value. The commands of the table declare theirs in their row and take them with
// take_own_flags (subcommands.h), which builds these.
struct CommandFlag {
  std::vector<std::string> names;  // {"-o", "--export"}
  std::string metavar;             // "N"; "" for a switch
  std::function<void(const std::string& value)> take;
};

// `args` without `flags` (each one's `take` called with its value, in the order given; a long
// flag's value may also be written --name=value); the other arguments stay, in their order.
// Throws an Error naming `command` for a flag without its value.
std::vector<std::string> take_command_flags(const std::vector<std::string>& args, const std::vector<CommandFlag>& flags,
                                            const std::string& command);

// The single positional argument left in `rest` (a model file); an Error saying `missing`
// when there is none, naming the first extra or unknown one otherwise.
std::string the_one_argument(const std::vector<std::string>& rest, const std::string& missing);

// `text` as a whole number of at least `min`; an Error naming `flag` otherwise.
int64_t parse_whole_number(const std::string& flag, const std::string& text, int64_t min);

}  // namespace onnx_train::cli
