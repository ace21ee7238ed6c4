// One opened IVF index segment (`_indices/<uuid>/`), whatever wrote it:
// lancer (2.0 files), Lance 10-14 ("V3" index.idx + auxiliary.idx in file
// format 2.0, 2.1 or 2.2) or Lance's legacy single-file IVF_PQ (format notes
// section 5; docs/index-format.md). Holds the centroids, the quantizer's codec
// (quant/codec.h: SQ bounds, PQ codebook, and the scanner that scores rows)
// and readers of the partition rows. Not thread-safe: reading a partition
// reuses the segment's page readers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "graph/hnsw.h"
#include "lance/file_reader.h"
#include "lance/vector_page.h"
#include "lancer/status.h"
#include "quant/codec.h"
#include "quant/index_kind.h"
#include "search/aux_columns.h"
#include "storage/file_io.h"
#include "table.pb.h"

namespace lancer::search {

struct Segment {
  std::string name;  // _indices/<uuid>
  lance::ElementType element = lance::ElementType::kFloat32;
  quant::IndexKind kind;
  quant::Metric metric = quant::Metric::kL2;
  uint32_t dim = 0, nlist = 0;
  std::vector<float> centroids;            // nlist x dim
  std::vector<uint64_t> offsets, lengths;  // per partition: first row (legacy: byte offset), rows
  size_t storage_bytes = 0;                // per row: codec->row_bytes()
  std::shared_ptr<const quant::Codec> codec;

  // V3 segments: the auxiliary.idx columns.
  std::shared_ptr<const lance::LanceFile> aux;
  std::optional<AuxColumn> rowids;
  std::vector<AuxColumn> storage;  // the codec's columns, in its order
  // Legacy segments: index.idx holds, per partition, the codes then the row ids.
  std::shared_ptr<storage::RandomAccessFile> legacy;
  // IVF_HNSW_*: index.idx's graph rows of each partition (offset, length) and its
  // `lance:hnsw` string. No graph_file: the graphs are in a layout not read yet (Lance's
  // 2.1/2.2 list pages), and partitions are scanned whole.
  std::shared_ptr<const lance::LanceFile> graph_file;
  std::vector<uint64_t> graph_offsets, graph_lengths;
  std::vector<std::string> graph_json;
};

// Opens the segment of `idx` in the dataset at `root`; `column` is the indexed
// column's type. Corruption / NotSupported name the file and what was found.
Result<Segment> open_segment(const std::string& root, const ::lance::table::IndexMetadata& idx,
                             const lance::VectorType& column);

// Partition `p`'s row ids (lengths[p]) and storage rows (lengths[p] x storage_bytes).
Status read_partition(Segment& s, uint32_t p, std::vector<uint64_t>* ids, std::vector<uint8_t>* storage);
// IVF_HNSW_* with a readable graph_file: partition `p`'s graph over its lengths[p] rows.
Result<graph::HnswGraph> read_partition_graph(const Segment& s, uint32_t p);

}  // namespace lancer::search
