// tools/onnx-train/run_folder.h: what a training run owns on disk, settled before its first
// step: the checkpoint folder (locked, so two runs cannot rotate away each other's
// checkpoints) and every output file's folder (made, and proved writable, so that nothing
// fails only after the whole run). Also how checkpoints name the model and the data: by
// absolute path and, for the model, by content hash, so that a checkpoint means the same
// files whatever folder the run was started in.
#pragma once

#include <string>
#include <vector>

namespace onnx_train::cli {

// Folders made for the run's outputs. If the run fails before it trains, the folders it made
// and left empty are removed again (a refused command leaves nothing behind); keep() once
// training starts.
class CreatedFolders {
 public:
  CreatedFolders() = default;
  CreatedFolders(const CreatedFolders&) = delete;
  CreatedFolders& operator=(const CreatedFolders&) = delete;
  ~CreatedFolders();
  // Makes `dir` and its missing parents, remembering the ones it made; an Error naming
  // `what` (e.g. "--plot run/plot.svg") when that fails.
  void make(const std::string& dir, const std::string& what);
  void keep() { made_.clear(); }

 private:
  std::vector<std::string> made_;  // outermost first
};

// Checks that `path`, an output file named by option `flag`, can be written: not an existing
// folder, its folder made (through `folders`) and writable (a file is created in it and
// removed: only that proves it, for root and on /proc alike). An Error names the flag and the
// path, never a temporary file.
void check_output_file(const std::string& flag, const std::string& path, CreatedFolders& folders);

// Writes `text` to `path` whole or not at all: into `path`.partial, then renamed over `path`,
// so a reader never sees half a file and a failed write leaves no partial one behind. Errors
// name `flag` and `path` (never the temporary file).
void write_file_atomically(const std::string& flag, const std::string& path, const std::string& text);

// An exclusive lock on a checkpoint folder for the life of the run: flock(2) on
// DIR/.onnx-train.lock, which holds the owner's process id. The kernel drops a flock when its
// process ends, however it ends, so a lock left by a killed run never blocks; a clean end
// removes the file too.
class CheckpointFolderLock {
 public:
  // Makes `dir` (through `folders`) and locks it; an Error naming the process that holds it.
  CheckpointFolderLock(const std::string& dir, CreatedFolders& folders);
  ~CheckpointFolderLock();
  CheckpointFolderLock(const CheckpointFolderLock&) = delete;
  CheckpointFolderLock& operator=(const CheckpointFolderLock&) = delete;

  static constexpr const char* kFileName = ".onnx-train.lock";

 private:
  std::string path_;
  int fd_ = -1;
};

// `path` made absolute and normalised ("a/../b" -> "/cwd/b"), without resolving symlinks:
// what a checkpoint records of the model and data it was trained on.
std::string absolute_path(const std::string& path);

// Whether `a` and `b` name the same file or folder: the same inode when both exist, else the
// same absolute path.
bool same_file(const std::string& a, const std::string& b);

// "fnv1a64:0123456789abcdef": a 64-bit FNV-1a hash of the file's bytes. It tells apart two
// versions of a model file; it is not meant to resist a forger.
std::string file_content_hash(const std::string& path);

}  // namespace onnx_train::cli
