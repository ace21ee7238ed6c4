// IEEE arithmetic for the current thread while a scope lives. A host process
// may have switched on flush-to-zero or denormals-are-zero (a library built
// with -ffast-math does so when it is loaded) or another rounding mode; each
// changes results on some inputs. lancer's threads and build phases run with
// round-to-nearest and subnormals kept, so the same inputs give the same bits
// in any process (docs/decisions/same-bytes-any-hardware.md). The previous
// state is restored on exit. Per thread; a no-op where there is no MXCSR.
#pragma once

namespace lancer::core {

class IeeeFloatScope {
 public:
  IeeeFloatScope();
  ~IeeeFloatScope();
  IeeeFloatScope(const IeeeFloatScope&) = delete;
  IeeeFloatScope& operator=(const IeeeFloatScope&) = delete;

 private:
  unsigned saved_ = 0;
};

}  // namespace lancer::core
