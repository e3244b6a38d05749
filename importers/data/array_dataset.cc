#include "importers/data/array_dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "importers/data/array_convert.h"

namespace onnx_train {

MappedFile::MappedFile(std::string path) : path_(std::move(path)) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) OT_FAIL_AS(ErrorCategory::Io, "{}: cannot open for reading: {}", path_, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    OT_FAIL_AS(ErrorCategory::Io, "{}: cannot read the file's size: {}", path_, std::strerror(err));
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    OT_CHECK(mapped != MAP_FAILED, "{}: cannot map the file into memory: {}", path_, std::strerror(err));
    data_ = static_cast<const uint8_t*>(mapped);
  } else {
    ::close(fd);
  }
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

std::string list_paths(const std::vector<std::string>& paths) {
  constexpr size_t kShown = 2;
  std::string out;
  for (size_t i = 0; i < paths.size() && i < kShown; ++i) out += (i ? ", " : "") + paths[i];
  if (paths.size() > kShown) out += fmt::format(" and {} more", paths.size() - kShown);
  return out;
}

namespace {

int64_t column_samples(const ArrayColumn& column) {
  int64_t n = 0;
  for (const auto& chunk : column.chunks) n += chunk.samples;
  return n;
}

std::string column_files(const ArrayColumn& column) {
  std::vector<std::string> paths;
  for (const auto& chunk : column.chunks)
    if (paths.empty() || paths.back() != chunk.path) paths.push_back(chunk.path);
  return list_paths(paths);
}

}  // namespace

ArrayDataset::ArrayDataset(const std::string& dir, const std::vector<FieldSpec>& wanted,
                           std::vector<ArrayColumn> columns, std::vector<std::shared_ptr<const void>> storage,
                           std::string origin, std::string format)
    : columns_(std::move(columns)),
      storage_(std::move(storage)),
      origin_(std::move(origin)),
      format_(std::move(format)) {
  OT_CHECK(columns_.size() == wanted.size() && !wanted.empty(), "ArrayDataset: {} columns for {} fields",
           columns_.size(), wanted.size());
  size_ = column_samples(columns_[0]);
  for (size_t f = 0; f < wanted.size(); ++f) {
    const ArrayColumn& column = columns_[f];
    const int64_t samples = column_samples(column);
    OT_CHECK(samples == size_,
             "{}: the fields have different numbers of samples: '{}' has {} ({}) but '{}' has {} ({}); every "
             "field needs one entry per sample, in the same order",
             dir, wanted[0].name, size_, column_files(columns_[0]), wanted[f].name, samples, column_files(column));
    // A sample of no values feeds nothing, and costs no bytes: [10^18, 0] would be that many
    // samples read from an empty data part.
    if (shape_numel(column.sample_shape) == 0)
      OT_FAIL_AS(ErrorCategory::Data,
                 "{}: the samples of field '{}' hold no values (each is {} {}); every sample needs at least one value",
                 column_files(column), wanted[f].name, dtype_name(column.dtype), shape_str(column.sample_shape));
    FieldSpec field = wanted[f];
    field.sample_shape = resolve_sample_shape(wanted[f], column.sample_shape, column_files(column));
    fields_.push_back(std::move(field));
    std::vector<int64_t> starts;
    int64_t start = 0;
    for (const auto& chunk : column.chunks) {
      starts.push_back(start);
      start += chunk.samples;
    }
    chunk_starts_.push_back(std::move(starts));
  }
  OT_CHECK(size_ > 0, "{}: {} hold no samples (their first axis has length 0); the training data must not be empty",
           dir, origin_);
}

std::pair<const ArrayChunk*, int64_t> ArrayDataset::locate(size_t field, int64_t index) const {
  OT_CHECK(field < fields_.size() && index >= 0 && index < size_, "{}: no sample {} of field {} (the data holds {})",
           origin_, index, field, size_);
  const auto& starts = chunk_starts_[field];
  const size_t c = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), index) - starts.begin()) - 1;
  return {&columns_[field].chunks[c], index - starts[c]};
}

void ArrayDataset::read(size_t field, int64_t index, void* out) const {
  const auto [chunk, local] = locate(field, index);
  const ArrayColumn& column = columns_[field];
  const int64_t numel = shape_numel(column.sample_shape);
  const uint8_t* src = chunk->data + local * numel * static_cast<int64_t>(dtype_size(column.dtype));
  // Two pointers of capture fit std::function's inline storage: no allocation per sample.
  const std::pair<size_t, int64_t> sample(field, index);
  convert_elements(column.dtype, src, fields_[field].dtype, out, numel, [this, &sample] {
    return fmt::format("{}, field '{}'", source_of(sample.first, sample.second), fields_[sample.first].name);
  });
}

std::string ArrayDataset::source_of(size_t field, int64_t index) const {
  const auto [chunk, local] = locate(field, index);
  if (!chunk->lines.empty()) return fmt::format("{}, line {}", chunk->path, chunk->lines[static_cast<size_t>(local)]);
  return fmt::format("{}, sample {}", chunk->path, local);
}

std::string ArrayDataset::describe() const {
  return fmt::format("{} samples from {} ({}{})", size_, origin_, format_,
                     classes_about_.empty() ? "" : "; " + classes_about_);
}

}  // namespace onnx_train
