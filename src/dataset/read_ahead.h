// A VectorStream that reads its next batch on a thread of its own while the
// caller works on the current one: phase 2's reads and decoding overlap the
// assignment and encoding instead of waiting between them. Batches come in
// the stream's order, so nothing downstream can tell the difference. Memory:
// one more batch. Not thread-safe (one consumer).
#pragma once

#include <future>
#include <memory>

#include "dataset/vector_stream.h"

namespace lancer::dataset {

class ReadAheadStream {
 public:
  explicit ReadAheadStream(std::unique_ptr<VectorStream> stream) : stream_(std::move(stream)) {}
  ~ReadAheadStream();
  ReadAheadStream(const ReadAheadStream&) = delete;
  ReadAheadStream& operator=(const ReadAheadStream&) = delete;

  // As VectorStream::next. The batch previously returned may be reused for
  // reading, so the caller is done with it when it calls next again.
  Result<bool> next(VectorBatch* batch);
  // Once next returned false or an error.
  const StreamStats& stats() const { return stream_->stats(); }

 private:
  void start();

  std::unique_ptr<VectorStream> stream_;
  VectorBatch ahead_;
  std::future<Result<bool>> pending_;
  bool done_ = false;
};

}  // namespace lancer::dataset
