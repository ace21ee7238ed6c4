// Committing a CreateIndex into a dataset (format notes 4): a new manifest
// version with the index entry, the transaction both inline and in
// `_transactions/`, made visible by one put-if-absent of the next manifest name
// (link(2) locally; a PUT with If-None-Match: * on object stores). A lost race is
// first verified (was the version there ours, a retried PUT?); otherwise the newer
// versions' transactions are checked with Lance's conflict rules and the commit
// is rebased and retried when they are compatible. Nothing but that one put makes
// anything visible; a failed commit leaves no manifest behind.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lance/manifest.h"
#include "lancer/status.h"
#include "table.pb.h"
#include "transaction.pb.h"

namespace lancer::lance {

struct CreateIndexCommit {
  std::string root;                     // dataset root: a folder or an object-store URI
  uint64_t read_version;                // the version the index was built from
  ::lance::table::IndexMetadata index;  // the new segment (dataset_version = read_version)
  bool replace = true;                  // an index of the same name is swapped out; false: it is an error
  int max_retries = 20;                 // as Lance
  // More segments of the same index (same name, disjoint fragment bitmaps), committed with it.
  std::vector<::lance::table::IndexMetadata> more_segments;
  // The manifest of read_version and the dataset's naming, when the caller has them: the first
  // attempt then needs no listing and no read (a conflict is caught by the put-if-absent anyway).
  const ManifestFile* read_manifest = nullptr;
  ManifestNaming naming = ManifestNaming::kV2;
};

struct CommitResult {
  uint64_t version = 0;              // the version now holding the index
  std::vector<std::string> removed;  // uuids of replaced segments
  int retries = 0;
};

Result<CommitResult> commit_create_index(const CreateIndexCommit& commit);

// Lance's rules for a CreateIndex meeting `other`, a transaction committed meanwhile at `version`
// (format notes 4.4): OK (possibly narrowing `index`'s fragment bitmap) or Conflict. `other` is
// read from another writer's file, so every field is outside bytes (fuzz/fuzz_transaction.cc).
Status check_compatible(const ::lance::table::Transaction& other, ::lance::table::IndexMetadata* index,
                        uint64_t version);

// Manifest file bytes: [u32][IndexSection][u32][Transaction][u32][Manifest][trailer].
// Sets manifest.index_section and transaction_section to the offsets it uses.
std::string serialize_manifest_file(::lance::table::Manifest manifest, const ::lance::table::IndexSection& section,
                                    const std::string& transaction_bytes);

}  // namespace lancer::lance
