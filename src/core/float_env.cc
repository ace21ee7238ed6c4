#include "core/float_env.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace lancer::core {

#if defined(__x86_64__) || defined(__i386__)
namespace {
// MXCSR: flush-to-zero (bit 15), rounding control (bits 13-14; 0 = to nearest),
// denormals-are-zero (bit 6).
constexpr unsigned kNonIeee = 0x8000u | 0x6000u | 0x0040u;
}  // namespace

IeeeFloatScope::IeeeFloatScope() : saved_(_mm_getcsr()) {
  _mm_setcsr(saved_ & ~kNonIeee);
}
IeeeFloatScope::~IeeeFloatScope() {
  _mm_setcsr(saved_);
}
#else
IeeeFloatScope::IeeeFloatScope() = default;
IeeeFloatScope::~IeeeFloatScope() = default;
#endif

}  // namespace lancer::core
