// AMX half of bf16_scores_amx.h. Tiles: four 16 x 16 float accumulators (two
// row tiles by two centroid panels), two row tiles and two panel tiles of 16
// pairs. A panel of 16 centroids is already the tile layout AMX multiplies
// by (pair j of centroid l at [j][l]); a row tile is 16 rows' pairs, `pairs`
// apart.
#include "simd/bf16_scores_amx.h"

#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "simd/bf16_scores.h"

namespace lancer::simd {
namespace {

constexpr int kArchReqXcompPerm = 0x1023;  // arch_prctl: ask for an XSAVE feature
constexpr int kXfeatureTileData = 18;

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0-3: accumulators C[r][p] = 2 r + p; 4, 5: row tiles; 6, 7: panel tiles.
const TileConfig& config() {
  static const TileConfig c = [] {
    TileConfig t;
    for (int i = 0; i < 8; ++i) {
      t.colsb[i] = 64;
      t.rows[i] = 16;
    }
    return t;
  }();
  return c;
}

// R row tiles (1 or 2) by P panels (1 or 2), K = pairs; x: R tiles of rows,
// 16 pairs a chunk (packed) or row-major.
template <int R, int P>
inline void block(const uint32_t* x, size_t pairs, const uint32_t* panel, float* out, size_t kp, bool packed) {
  _tile_zero(0);
  if (P > 1) _tile_zero(1);
  if (R > 1) _tile_zero(2);
  if (R > 1 && P > 1) _tile_zero(3);
  const size_t ps = 16 * pairs;
  // Packed rows: chunk j of a tile at x + 16 j, 64 bytes a row; else row-major pairs.
  const size_t xstep = packed ? 16 : 1, xstride = packed ? 64 : pairs * sizeof(uint32_t);
  for (size_t j = 0; j < pairs; j += 16) {
    _tile_loadd(4, x + j * xstep, xstride);
    if (R > 1) _tile_loadd(5, x + ps + j * xstep, xstride);
    _tile_loadd(6, panel + j * 16, 64);
    if (P > 1) _tile_loadd(7, panel + ps + j * 16, 64);
    _tile_dpbf16ps(0, 4, 6);
    if (P > 1) _tile_dpbf16ps(1, 4, 7);
    if (R > 1) _tile_dpbf16ps(2, 5, 6);
    if (R > 1 && P > 1) _tile_dpbf16ps(3, 5, 7);
  }
  const size_t os = kp * sizeof(float);
  _tile_stored(0, out, os);
  if (P > 1) _tile_stored(1, out + 16, os);
  if (R > 1) _tile_stored(2, out + 16 * kp, os);
  if (R > 1 && P > 1) _tile_stored(3, out + 16 * kp + 16, os);
}

// Rows [16 t, 16 t + 16) of x (row-major pairs) as chunks: pair j of row r at
// out[t * 16 * pairs + (j / 16) * 256 + r * 16 + j % 16], the layout of a panel.
void repack_rows(const uint32_t* x, size_t tiles, size_t pairs, uint32_t* out) {
  for (size_t t = 0; t < tiles; ++t)
    for (size_t r = 0; r < 16; ++r) {
      const uint32_t* row = x + (t * 16 + r) * pairs;
      uint32_t* dst = out + t * 16 * pairs + r * 16;
      for (size_t j = 0; j < pairs; j += 16) std::memcpy(dst + j * 16, row + j, 64);
    }
}

// Scores of `tiles` whole 16-row tiles.
void score_tiles(const uint32_t* rows, size_t tiles, const uint32_t* panels, size_t kp, size_t pairs, float* out) {
  // Long rows (1 KB and more apart share L1 sets, 16 in a tile) against many panels: rows
  // repacked as 16-pair chunks, each panel pair held while the row tiles stream past. Else the
  // rows as they are, each row tile pair held while the panels stream past.
  const bool pack = pairs >= 256 && kp > 64;
  thread_local std::vector<uint32_t> packed;
  if (pack) {
    packed.resize(tiles * 16 * pairs);
    repack_rows(rows, tiles, pairs, packed.data());
  }
  const uint32_t* a = pack ? packed.data() : rows;
  const size_t band = 16 * pairs;  // one row tile or one panel
  // Row tiles t, t + 1 by panels c / 16, c / 16 + 1, as many of them as there are.
  auto one = [&](size_t t, size_t c) {
    const uint32_t* x = a + t * band;
    const uint32_t* panel = panels + c * pairs;
    float* o = out + t * 16 * kp + c;
    const bool two_rows = t + 1 < tiles, two_panels = c + 32 <= kp;
    if (two_rows && two_panels) {
      block<2, 2>(x, pairs, panel, o, kp, pack);
    } else if (two_rows) {
      block<2, 1>(x, pairs, panel, o, kp, pack);
    } else if (two_panels) {
      block<1, 2>(x, pairs, panel, o, kp, pack);
    } else {
      block<1, 1>(x, pairs, panel, o, kp, pack);
    }
  };
  _tile_loadconfig(&config());
  if (pack) {
    for (size_t c = 0; c < kp; c += 32)
      for (size_t t = 0; t < tiles; t += 2) one(t, c);
  } else {
    for (size_t t = 0; t < tiles; t += 2)
      for (size_t c = 0; c < kp; c += 32) one(t, c);
  }
  _tile_release();
}

}  // namespace

bool amx_bf16_available() {
  static const bool available = [] {
#if defined(__x86_64__)
    if (!bf16_scores_available()) return false;
    const char* env = std::getenv("LANCER_AMX");
    if (env != nullptr && std::strcmp(env, "0") == 0) return false;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("amx-tile") || !__builtin_cpu_supports("amx-bf16")) return false;
    // Linux hands out the 8 KB of tile state only to processes that ask.
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureTileData) == 0;
#else
    return false;
#endif
  }();
  return available;
}

bool bf16_scores_amx(const uint32_t* rows, size_t n, const uint32_t* panels, size_t kp, size_t pairs, float* out) {
  if (pairs % 16 != 0) return false;
  const size_t whole = n / 16 * 16;
  if (whole > 0) score_tiles(rows, whole / 16, panels, kp, pairs, out);
  if (whole < n) {
    // The last few rows (8: rows come in eights) padded to a tile: half a tile here is still
    // several times vdpbf16ps's rate.
    thread_local std::vector<uint32_t> tail_rows;
    thread_local std::vector<float> tail_out;
    tail_rows.assign(16 * pairs, 0u);
    tail_out.resize(16 * kp);
    std::copy_n(rows + whole * pairs, (n - whole) * pairs, tail_rows.data());
    score_tiles(tail_rows.data(), 1, panels, kp, pairs, tail_out.data());
    std::copy_n(tail_out.data(), (n - whole) * kp, out + whole * kp);
  }
  return true;
}

}  // namespace lancer::simd
