// One codec per quantizer: everything the build and search need to know about
// a quantizer once its model exists, in one place (FAISS's encode /
// InvertedListScanner split, Lance's Quantization trait):
//   - whether it encodes residuals for a metric;
//   - the storage columns it writes in auxiliary.idx, and their layout;
//   - the bytes per row of a spill, and encoding a batch into them;
//   - the storage metadata and global buffers it writes, and (registry.h)
//     reading them back;
//   - its model.bin section;
//   - the query-time scanner of one partition's stored rows.
// Codecs are immutable and shared as shared_ptr<const Codec>; every method is
// thread-safe. A PartitionScanner belongs to one searching thread and borrows
// its codec's model: keep the codec alive while scanning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"
#include "quant/index_kind.h"

namespace lancer::quant {

using linalg::MatrixView;

// One stored column of auxiliary.idx after `_rowid`: a fixed-size list of
// `width` Lance `element`s ("float", "halffloat", "uint8"), or one plain
// `element` per row (`scalar`: RQ's float32 factors).
struct AuxColumnSpec {
  std::string name;         // "flat", "__sq_code", "__pq_code", "_rabit_codes", ...
  std::string element;      // Lance's logical element type name
  uint32_t element_bits = 8;
  uint32_t width = 0;       // list size
  bool nullable = false;    // as Lance declares the field
  bool transposed = false;  // stored byte-major within each partition (PQ, lance-format.md 5.5)
  bool scalar = false;      // a plain `element` column; width is ignored
  size_t row_bytes() const { return size_t{scalar ? 1 : width} * element_bits / 8; }
  // The Lance logical type: "fixed_size_list:uint8:4" or "float".
  std::string logical_type() const {
    return scalar ? element : "fixed_size_list:" + element + ":" + std::to_string(width);
  }
};

// A float tensor the codec stores as a global buffer of auxiliary.idx (in the
// column's element type), at a fixed position that its metadata names.
struct CodecBuffer {
  uint32_t position = 0;
  std::vector<uint32_t> shape;
  const std::vector<float>* values = nullptr;  // borrowed from the codec
};

// Distances from one query to the stored rows of the partitions it probes.
class PartitionScanner {
 public:
  virtual ~PartitionScanner() = default;
  // Called before the rows of each partition; residual codecs rebuild their tables.
  virtual void set_partition(const float* centroid) = 0;
  // rows: one partition's n stored rows, as laid out in the file.
  virtual void scan(const uint8_t* rows, size_t n, float* distances) = 0;
};

class Codec {
 public:
  virtual ~Codec() = default;

  virtual QuantizerKind kind() const = 0;
  virtual uint32_t dim() const = 0;
  // Lance's rule: PQ encodes x - centroid for l2 / cosine, x itself for dot.
  virtual bool uses_residual(Metric metric) const = 0;

  // The stored columns, in order; a spill row is their bytes concatenated.
  virtual std::span<const AuxColumnSpec> columns() const = 0;
  size_t row_bytes() const;

  // rows: x.rows * row_bytes(). x is already normalised for cosine; labels
  // are the partitions and centroids their [nlist][dim] vectors.
  virtual Status encode(MatrixView<const float> x, std::span<const uint32_t> labels, const float* centroids,
                        Metric metric, std::span<uint8_t> rows, core::Executor& executor) const = 0;

  // The JSON object (one element of auxiliary.idx's storage_metadata array).
  virtual std::string storage_metadata() const = 0;
  virtual std::vector<CodecBuffer> global_buffers() const { return {}; }

  // model.bin: the header entry (key and JSON object) and the floats that
  // follow the centroids. No key: nothing is written.
  virtual const char* model_key() const { return nullptr; }
  virtual std::string model_header() const { return {}; }
  virtual std::span<const float> model_floats() const { return {}; }

  // query: dim floats, normalised for cosine and rounded to half for float16
  // columns (`half`), as Lance does before scoring.
  virtual std::unique_ptr<PartitionScanner> scanner(const float* query, Metric metric, bool half) const = 0;

  // The vectors n stored rows (row-major, as encode wrote them) stand for, n x dim floats:
  // what an HNSW graph over the partition measures (Lance builds it on the quantized storage:
  // PQ's decoded residuals where it encodes residuals, SQ's decoded values). NotSupported for a
  // quantizer no graph is built on.
  virtual Status reconstruct(const uint8_t* rows, size_t n, float* out) const;
};

// Exact distances as Lance's _distance: l2 squared, 1 - cos, 1 - dot.
float exact_distance(Metric metric, const float* q, const float* v, size_t d);

// JSON number / string text as Lance's serde writes them (shortest round trip).
std::string json_double(double v);
std::string json_string(const std::string& s);

}  // namespace lancer::quant
