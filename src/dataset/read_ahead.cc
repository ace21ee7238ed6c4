#include "dataset/read_ahead.h"

#include <utility>

namespace lancer::dataset {

ReadAheadStream::~ReadAheadStream() {
  if (pending_.valid()) pending_.wait();  // the reader uses stream_ and ahead_
}

void ReadAheadStream::start() {
  pending_ = std::async(std::launch::async, [this] { return stream_->next(&ahead_); });
}

Result<bool> ReadAheadStream::next(VectorBatch* batch) {
  if (done_) return false;
  if (!pending_.valid()) start();
  Result<bool> more = pending_.get();
  if (!more.ok() || !*more) {
    done_ = true;
    return more;
  }
  std::swap(*batch, ahead_);
  start();
  return true;
}

}  // namespace lancer::dataset
