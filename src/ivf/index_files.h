// The two files of one IVF index segment in Lance's "V3" layout (format notes
// 5.1-5.6): index.idx (centroids, FLAT sub-index marker) and auxiliary.idx
// (row ids and the quantized vectors, partition after partition). Written as
// file format 2.0, which Lance 10 and 14 open in datasets of every version.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "lance/file_writer.h"
#include "lance/vector_page.h"
#include "lancer/status.h"
#include "quant/codec.h"
#include "quant/index_kind.h"

namespace lancer::ivf {

// Everything the files record about the trained model. Immutable once built.
struct IndexModel {
  quant::IndexKind kind;
  quant::Metric metric = quant::Metric::kL2;
  lance::VectorType column;      // element type and dimension of the indexed column
  uint32_t num_partitions = 0;
  std::vector<float> centroids;  // [num_partitions][dim]
  double loss = 0;
  std::shared_ptr<const quant::Codec> codec;  // the quantizer's model, storage and encoder

  // Bytes per vector in auxiliary.idx (and in a spill): every codec column, packed.
  size_t storage_row_bytes() const { return codec->row_bytes(); }
  Status validate() const;
};

// index.idx's IVF global buffer (serialized lance.index.pb.IVF): offsets and
// `lengths` (rows of index.idx per partition), the centroids tensor and loss.
std::string index_ivf_buffer(const IndexModel& model, const std::vector<uint64_t>& lengths);

// Writes index.idx; returns its size.
Result<uint64_t> write_index_file(const std::string& path, const IndexModel& model);

// Streams auxiliary.idx: `_rowid`, then the codec's columns (quant/codec.h).
// Partitions are written whole and in increasing order (skipped partitions are
// empty). Rows arrive as the codec encoded them; each column is split out, and
// transposed per partition where the codec says so (PQ, as Lance writes it).
// Not thread-safe.
class AuxiliaryFileWriter {
 public:
  static Result<std::unique_ptr<AuxiliaryFileWriter>> create(const std::string& path,
                                                             std::shared_ptr<const IndexModel> model);
  // `storage` holds n x storage_row_bytes() bytes, row-major.
  Status write_partition(uint32_t partition, const uint64_t* row_ids, const uint8_t* storage, size_t n);
  // Returns the file size.
  Result<uint64_t> finish();

 private:
  AuxiliaryFileWriter() = default;
  Status flush_pages();

  std::shared_ptr<const IndexModel> model_;
  std::unique_ptr<lance::LanceFileWriter> writer_;
  std::vector<uint64_t> lengths_;
  uint32_t next_partition_ = 0;
  uint64_t rows_ = 0;
  std::vector<uint64_t> pending_ids_;
  std::vector<core::ByteBuffer> pending_columns_;  // per codec column (overwritten as they grow)
};

}  // namespace lancer::ivf
