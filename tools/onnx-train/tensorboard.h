// tools/onnx-train/tensorboard.h: TensorBoard event files, written without TensorFlow or
// Python: the TFRecord framing, the CRC-32C it checks records with, and the few protobuf
// messages a scalar chart needs, encoded by hand.
//
// An event file is a sequence of records, each
//   uint64 length | uint32 masked_crc32c(length) | data[length] | uint32 masked_crc32c(data)
// (little-endian), where masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8, so that a CRC
// of bytes that hold a CRC is not trivially related to it. Each record's data is a serialized
// tensorflow.Event (tensorflow/core/util/event.proto, summary.proto in tensorflow/core/framework):
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; }
// The first record is the file_version event "brain.Event:2"; scalars follow, one Event per step
// holding that step's values. TensorBoard reads every events.out.tfevents.* file of a folder.
//
// Not here: histograms, images, graphs, or reading event files back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace onnx_train::cli {

// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF),
// the checksum TFRecord uses. crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t size);
// TFRecord's masked form of a CRC.
uint32_t masked_crc32c(const void* data, size_t size);

// `data` framed as one TFRecord.
std::string tfrecord(const std::string& data);

// A scalar of a summary: its tag ("train/loss") and value (float32, as TensorBoard keeps it).
using Scalar = std::pair<std::string, float>;

// The serialized Event that opens an event file: file_version "brain.Event:2".
std::string file_version_event(double wall_time);
// The serialized Event of `scalars` at `step`.
std::string scalars_event(double wall_time, int64_t step, const std::vector<Scalar>& scalars);

// One event file, written as events come: every record is flushed as it is written, so a run
// killed at any moment leaves a file whose complete records all read back.
class EventFileWriter {
 public:
  // Creates `path` (which must not exist: an event file is never overwritten or appended to)
  // and writes its file_version event. An Error names the path.
  explicit EventFileWriter(const std::string& path);

  void write_scalars(int64_t step, const std::vector<Scalar>& scalars);
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& event);

  struct Closer {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::string path_;
  std::unique_ptr<std::FILE, Closer> file_;
};

// Seconds since the Unix epoch, with fractions: an Event's wall_time.
double unix_seconds_now();

}  // namespace onnx_train::cli
