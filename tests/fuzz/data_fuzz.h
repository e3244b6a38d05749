// What the data readers' fuzz targets share: a private folder per process (in memory when
// /dev/shm exists), emptied before each input and removed at exit, where the input's bytes
// become the files the readers open by path; and a reading of everything a data set exposes,
// the way training does (open_data, then every sample of every field through scan_samples,
// which converts and checks each one). Only onnx_train::Error is caught: anything else that
// escapes (std::bad_alloc, std::length_error, ...) ends the run as a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "onnx_train/dataset.h"
#include "onnx_train/error.h"

namespace data_fuzz {

inline const std::string& folder() {
  // Never destroyed: the exit handler that removes the folder runs after static destructors.
  static const std::string* dir = [] {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    auto* d = new std::string(std::string(base) + "/onnx-train-fuzz-data-" + std::to_string(getpid()));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(folder(), ec);
    });
    return d;
  }();
  return *dir;
}

// An empty folder() (the previous input's files removed).
inline void clear() {
  for (const auto& entry : std::filesystem::directory_iterator(folder())) std::filesystem::remove_all(entry.path());
}

// Writes `size` bytes to folder()/relative (parent folders made) and returns the path.
inline std::string write(const std::string& relative, const uint8_t* data, size_t size) {
  const std::filesystem::path path = std::filesystem::path(folder()) / relative;
  std::filesystem::create_directories(path.parent_path());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path.string();
}

// Every sample of every field of `data`, converted and checked; augmented too when asked.
inline void read_everything(const onnx_train::Dataset& data, bool augmented) {
  (void)data.describe();
  (void)data.class_names();
  const onnx_train::SampleScan scan = onnx_train::scan_samples(data, /*budget_seconds=*/1e9, /*stop_at_first=*/false);
  if (std::getenv("DATA_FUZZ_VERBOSE"))
    for (const auto& bad : scan.bad) std::fprintf(stderr, "bad sample: %s\n", bad.problem.c_str());
  std::vector<std::vector<uint8_t>> buffers;
  for (const auto& field : data.fields())
    buffers.emplace_back(static_cast<size_t>(onnx_train::shape_numel(field.sample_shape)) *
                         onnx_train::dtype_size(field.dtype));
  for (int64_t i = 0; i < data.size(); ++i) {
    (void)data.sample_name(i);
    for (size_t f = 0; f < buffers.size(); ++f) {
      (void)data.source_of(f, i);
      if (!augmented) continue;
      try {
        data.read_augmented(f, i, static_cast<uint64_t>(i) * 7919u + 1, buffers[f].data());
      } catch (const onnx_train::Error&) {
      }
    }
  }
}

// open_data(path) and everything read from each split; an Error is an answer.
inline void open_and_read(const std::string& path, const std::vector<onnx_train::FieldSpec>& wanted,
                          const onnx_train::DataOptions& options = {}) {
  try {
    const onnx_train::DataSplits splits = onnx_train::open_data(path, wanted, options);
    read_everything(*splits.train, options.augment.any());
    if (splits.val) read_everything(*splits.val, false);
  } catch (const onnx_train::Error& e) {
    if (std::getenv("DATA_FUZZ_VERBOSE")) std::fprintf(stderr, "error: %s\n", e.what());
    return;
  }
  if (std::getenv("DATA_FUZZ_VERBOSE")) std::fprintf(stderr, "read: %s\n", path.c_str());
}

}  // namespace data_fuzz

// Every data target's start-up (each target is one file that includes this header once): the
// scratch folder made before the first input.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  data_fuzz::folder();
  return 0;
}
