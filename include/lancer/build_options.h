// The build options, listed once. Each entry names one field of CreateIndexOptions
// with the name Python and the staging record use (a keyword of lancer.create_index),
// its help text and its checks; the CLI's flags ("--" + name, '_' as '-') and the
// Python module's options dict are derived from this table, and the Python keywords
// and the staging record's keys are checked against it by tests. A new parameter is
// one field in CreateIndexOptions plus one entry here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lancer/create_index.h"

namespace lancer {

struct BuildOption {
  using Field = std::variant<std::string CreateIndexOptions::*, int CreateIndexOptions::*,
                             std::optional<int> CreateIndexOptions::*, uint64_t CreateIndexOptions::*,
                             bool CreateIndexOptions::*>;
  enum class Check { kNone, kExistingFile };
  std::string_view name;
  Field field;
  std::string_view help;
  Check check = Check::kNone;
  std::vector<std::string> choices = {};  // accepted values, case-insensitive; empty: any
  bool required = false;
  bool positional = false;  // the CLI takes it as an argument, not a flag
};

// Every build option, in the order the CLI lists them.
std::span<const BuildOption> build_options();
const BuildOption* find_build_option(std::string_view name);
// "--num-partitions" for num_partitions.
std::string cli_flag(const BuildOption& option);

// The one place where spellings are made canonical: the index type in upper case, the
// metric in lower case with Lance's alias euclidean -> l2.
CreateIndexOptions canonical_options(CreateIndexOptions options);

}  // namespace lancer
