#include "tools/onnx-train/run_folder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "onnx_train/error.h"

namespace onnx_train::cli {

namespace fs = std::filesystem;

CreatedFolders::~CreatedFolders() {
  // Innermost first; remove() refuses a folder that is not empty, which is what we want.
  std::error_code ec;
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) fs::remove(*it, ec);
}

void CreatedFolders::make(const std::string& dir, const std::string& what) {
  if (dir.empty()) return;
  std::vector<std::string> missing;
  std::error_code ec;
  for (fs::path p = fs::path(dir).lexically_normal(); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.insert(missing.begin(), p.string());
    if (p == p.parent_path()) break;
  }
  fs::create_directories(dir, ec);
  OT_CHECK(!ec, "{}: cannot create the folder {}: {}", what, dir, ec.message());
  OT_CHECK(fs::is_directory(dir, ec), "{}: {} is not a folder", what, dir);
  made_.insert(made_.end(), missing.begin(), missing.end());
}

void check_output_file(const std::string& flag, const std::string& path, CreatedFolders& folders) {
  if (path.empty()) return;
  const std::string what = flag + " " + path;
  std::error_code ec;
  OT_CHECK(!fs::is_directory(path, ec), "{}: {} is a folder; give the file to write in it, e.g. {}", what, path,
           (fs::path(path) / (flag == "--plot"  ? "plot.svg"
                              : flag == "--log" ? "log.jsonl"
                                                : "model.onnx"))
               .string());
  OT_CHECK(!fs::exists(path, ec) || fs::is_regular_file(path, ec),
           "{}: {} exists and is not a regular file (a device or a socket?); give a file path", what, path);
  const std::string dir = fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path().string();
  folders.make(dir, what);
  // Creating a file is the only test that holds everywhere: access(W_OK) says yes to root
  // on a read-only mount, and /proc accepts no new files whatever the permissions say.
  std::string probe = (fs::path(dir) / ".onnx-train-write-test-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  OT_CHECK(fd >= 0, "{}: cannot write files in the folder {}: {}; choose another path", what, dir,
           std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

void write_file_atomically(const std::string& flag, const std::string& path, const std::string& text) {
  const std::string partial = path + ".partial";
  std::FILE* file = std::fopen(partial.c_str(), "wb");
  OT_CHECK(file != nullptr, "{} {}: cannot write it ({}); check that the folder exists and is writable", flag, path,
           std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  const int write_errno = errno;
  const bool closed = std::fclose(file) == 0;  // a full disk can show only here, when the buffer goes out
  if (!written || !closed) {
    const int saved = written ? errno : write_errno;
    std::remove(partial.c_str());
    OT_FAIL("{} {}: cannot write it ({})", flag, path, std::strerror(saved));
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(partial.c_str());
    OT_FAIL("{} {}: cannot put the written file in place ({})", flag, path, std::strerror(rename_errno));
  }
}

namespace {

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

}  // namespace

CheckpointFolderLock::CheckpointFolderLock(const std::string& dir, CreatedFolders& folders) {
  folders.make(dir, "--checkpoint-dir " + dir);
  path_ = (fs::path(dir) / kFileName).string();
  // The file a lock is taken on may be removed by its owner's clean exit between our open()
  // and flock(): then we hold a lock on a file no one else sees, so check that the path still
  // names our file, and start over if not.
  for (int attempt = 0; attempt < 100; ++attempt) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    OT_CHECK(fd_ >= 0, "--checkpoint-dir {}: cannot create {}: {}", dir, path_, std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd_);
      fd_ = -1;
      OT_CHECK(error == EWOULDBLOCK, "--checkpoint-dir {}: cannot lock {}: {}", dir, path_, std::strerror(error));
      const std::string owner = read_small_file(path_);
      OT_FAIL(
          "--checkpoint-dir {}: another run{} is writing checkpoints there (it holds the lock {}); two runs in "
          "one folder would rotate away each other's checkpoints. Wait for it to finish, or give this run its own "
          "--checkpoint-dir",
          dir, owner.empty() ? "" : " (process " + owner + ")", path_);
    }
    struct stat held {
    }, named{};
    if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
        // The pid is only for the other run's message; the lock holds without it.
      }
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }
  OT_FAIL("--checkpoint-dir {}: cannot lock {}: it keeps being replaced", dir, path_);
}

CheckpointFolderLock::~CheckpointFolderLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still holding the lock: see the constructor
  ::close(fd_);
}

std::string absolute_path(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  std::string out = fs::absolute(path, ec).lexically_normal().string();
  if (ec) return path;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) {
    const bool same = fs::equivalent(a, b, ec);
    if (!ec) return same;
  }
  return absolute_path(a) == absolute_path(b);
}

std::string file_content_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  OT_CHECK(in.good(), "{}: cannot read: {}", path, std::strerror(errno));
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a offset basis and prime
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    for (std::streamsize i = 0; i < n; ++i) {
      hash ^= static_cast<unsigned char>(buffer[static_cast<size_t>(i)]);
      hash *= 0x100000001b3ULL;
    }
  }
  return fmt::format("fnv1a64:{:016x}", hash);
}

}  // namespace onnx_train::cli
