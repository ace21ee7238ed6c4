// AMX half of bf16_scores_amx.h. Tiles: four 16 x 16 float accumulators (two
// row tiles by two centroid panels), two row tiles and two panel tiles of 16
// pairs. A panel of 16 centroids is already the tile layout AMX multiplies
// by (pair j of centroid l at [j][l]); a row tile is 16 rows' pairs, `pairs`
// apart.
#include "simd/bf16_scores_amx.h"

#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

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

size_t bf16_scores_amx(const uint32_t* rows, size_t n, const uint32_t* panels, size_t kp, size_t pairs, float* out) {
  if (pairs % 16 != 0 || n < 16) return 0;
  const size_t tiles = n / 16;
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
  _tile_loadconfig(&config());
  const size_t band = 16 * pairs;  // one row tile or one panel
  auto one = [&]<int R, int P>(size_t t, size_t c) {
    block<R, P>(a + t * band, pairs, panels + c * pairs, out + t * 16 * kp + c, kp, pack);
  };
  if (!pack) {
    for (size_t t = 0; t < tiles; t += 2) {
      size_t c = 0;
      for (; c + 32 <= kp; c += 32)
        t + 1 < tiles ? one.template operator()<2, 2>(t, c) : one.template operator()<1, 2>(t, c);
      if (c < kp) t + 1 < tiles ? one.template operator()<2, 1>(t, c) : one.template operator()<1, 1>(t, c);
    }
  } else {
    for (size_t c = 0; c < kp; c += 32) {
      size_t t = 0;
      if (c + 32 <= kp) {
        for (; t + 2 <= tiles; t += 2) one.template operator()<2, 2>(t, c);
        if (t < tiles) one.template operator()<1, 2>(t, c);
      } else {
        for (; t + 2 <= tiles; t += 2) one.template operator()<2, 1>(t, c);
        if (t < tiles) one.template operator()<1, 1>(t, c);
      }
    }
  }
  _tile_release();
  return tiles * 16;
}

}  // namespace lancer::simd
