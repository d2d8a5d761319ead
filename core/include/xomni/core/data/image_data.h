#pragma once
// Image datasets on disk and their loader.
//
// A dataset is a folder of HDF5 shards plus manifest.json (written last, atomically, like token
// shards). Each shard holds its samples' pixels as uint8 chunks, their sizes, kinds, metadata
// JSON, captions and question/answer pairs as strings; h5py reads every field. The exact layout
// is documented in image_data.cpp and docs/DATA.md.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "xomni/core/io/image.h"

namespace xomni {

// Appends samples and cuts shards of about `samples_per_shard`. finish() writes the last shard
// and the manifest; a writer destroyed without finish() leaves no manifest (the folder is not a
// dataset until it is complete).
class ImageShardWriter {
 public:
  ImageShardWriter(const std::string& dir, int64_t samples_per_shard);
  ~ImageShardWriter();
  ImageShardWriter(const ImageShardWriter&) = delete;
  ImageShardWriter& operator=(const ImageShardWriter&) = delete;
  void add(const ImageSample& sample);
  // Returns the number of samples written.
  int64_t finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A read-only dataset (shards read on demand; copies share state). Errors name the file.
class ImageDataset {
 public:
  static ImageDataset open(const std::string& dir);
  int64_t size() const;
  ImageSample get(int64_t index) const;
  const std::string& dir() const;

 private:
  struct Impl;
  explicit ImageDataset(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}  // only open()
  std::shared_ptr<Impl> impl_;
};

}  // namespace xomni
