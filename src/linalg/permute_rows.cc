#include "linalg/permute_rows.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace lancer::linalg {

// The permutation's cycles, laid end to end in `seq`: within a cycle, position
// seq[j] takes the row at seq[j + 1], and the cycle's last position takes the
// row that was at its first. Moving in ascending j, each row is read before it
// is overwritten. seq is cut into chunks that threads move at once; only two
// kinds of rows cross a cut, and they are saved before any thread starts: the
// row just after a cut (the previous chunk's last read) and the first row of a
// cycle that spans a cut (its last position's source). A cycle inside one chunk
// saves its first row locally, as the serial cycle walk does.
void gather_rows_in_place(float* data, size_t dim, std::span<const uint32_t> order, core::Executor& executor) {
  const size_t n = order.size();
  const size_t row_bytes = dim * sizeof(float);
  std::vector<uint32_t> seq;
  std::vector<size_t> cycle_begin;  // offsets into seq, one per cycle, plus seq.size() at the end
  {
    seq.reserve(n);
    std::vector<bool> placed(n, false);
    for (size_t start = 0; start < n; ++start) {
      if (placed[start] || order[start] == start) continue;
      cycle_begin.push_back(seq.size());
      size_t at = start;
      do {
        seq.push_back(static_cast<uint32_t>(at));
        placed[at] = true;
        at = order[at];
      } while (at != start);
    }
    cycle_begin.push_back(seq.size());
  }
  const size_t m = seq.size();
  if (m == 0) return;
  const size_t threads = static_cast<size_t>(std::max(1, executor.num_threads()));
  // A chunk is at least a few hundred KiB of rows: below that, threads cost more than they save.
  const size_t min_chunk = std::max<size_t>(64, (size_t{256} << 10) / std::max<size_t>(row_bytes, 1));
  const size_t chunks = std::clamp<size_t>(m / min_chunk, 1, threads * 4);
  auto chunk_start = [&](size_t c) { return m * c / chunks; };
  auto cycle_of = [&](size_t j) {  // index into cycle_begin of the cycle holding seq[j]
    return static_cast<size_t>(std::upper_bound(cycle_begin.begin(), cycle_begin.end(), j) - cycle_begin.begin()) - 1;
  };
  // Saved rows: after_cut[c] is the row at seq[chunk_start(c)] (c >= 1) when the cut splits a cycle;
  // spanning_first[k] the first row of the k-th cycle that spans a cut.
  std::vector<float> after_cut(chunks * dim);
  std::vector<size_t> spanning_cycles;  // cycle indices, ascending
  for (size_t c = 1; c < chunks; ++c) {
    const size_t j = chunk_start(c);
    const size_t cy = cycle_of(j);
    if (cycle_begin[cy] == j) continue;  // the cut falls between cycles
    std::memcpy(after_cut.data() + c * dim, data + size_t{seq[j]} * dim, row_bytes);
    if (spanning_cycles.empty() || spanning_cycles.back() != cy) spanning_cycles.push_back(cy);
  }
  std::vector<float> spanning_first(spanning_cycles.size() * dim);
  for (size_t k = 0; k < spanning_cycles.size(); ++k) {
    std::memcpy(spanning_first.data() + k * dim, data + size_t{seq[cycle_begin[spanning_cycles[k]]]} * dim, row_bytes);
  }
  executor.parallel_for(chunks, 1, [&](size_t c0, size_t c1) {
    std::vector<float> local(dim);
    for (size_t c = c0; c < c1; ++c) {
      const size_t j0 = chunk_start(c), j1 = chunk_start(c + 1);
      size_t cy = cycle_of(j0);
      for (size_t j = j0; j < j1; ++j) {
        if (j == cycle_begin[cy + 1]) ++cy;
        const size_t first = cycle_begin[cy], end = cycle_begin[cy + 1];
        const bool spans = first < j0 || end > j1;
        float* dest = data + size_t{seq[j]} * dim;
        if (j == first && !spans) std::memcpy(local.data(), dest, row_bytes);
        const float* src;
        if (j + 1 == end) {  // the cycle's last position takes its first row
          src = spans ? spanning_first.data() +
                            static_cast<size_t>(std::lower_bound(spanning_cycles.begin(), spanning_cycles.end(), cy) -
                                                spanning_cycles.begin()) *
                                dim
                      : local.data();
        } else if (j + 1 == j1) {  // the next row lies past the cut
          src = after_cut.data() + (c + 1) * dim;
        } else {
          src = data + size_t{seq[j + 1]} * dim;
        }
        std::memcpy(dest, src, row_bytes);
      }
    }
  });
}

}  // namespace lancer::linalg
