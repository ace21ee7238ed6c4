#include "lance/commit.h"

#include <chrono>
#include <set>

#include "core/uuid.h"
#include "lance/deterministic.h"
#include "lance/feature_flags.h"
#include "lance/manifest.h"
#include "lance/roaring.h"
#include "storage/file_io.h"
#include "transaction.pb.h"

namespace lancer::lance {

namespace {

using ::lance::table::IndexMetadata;
using ::lance::table::IndexSection;
using ::lance::table::Manifest;
using ::lance::table::Transaction;

void append_framed(std::string* out, const std::string& message) {
  const uint32_t len = static_cast<uint32_t>(message.size());
  out->append(reinterpret_cast<const char*>(&len), 4);
  out->append(message);
}

// The transaction that produced `version`: inline first, else its .txn file.
Result<Transaction> read_transaction(const std::string& root, ManifestNaming naming, uint64_t version) {
  const std::string name = "_versions/" + manifest_file_name(version, naming);
  LANCER_ASSIGN_OR_RETURN(ManifestFile mf, read_manifest(storage::join_path(root, name), name));
  Transaction txn;
  const auto& m = mf.manifest;
  if (mf.transaction) {
    if (!txn.ParseFromString(*mf.transaction))
      return Status::Corruption(name + ": its inline transaction does not parse");
    return txn;
  }
  if (m.transaction_file().empty()) {
    return Status::Conflict("version " + std::to_string(version) + " has no transaction; cannot rebase over it");
  }
  const std::string txn_path = storage::join_path(root, "_transactions/" + m.transaction_file());
  LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> txn_bytes, storage::read_whole_file(txn_path));
  if (!txn.ParseFromArray(txn_bytes.data(), static_cast<int>(txn_bytes.size()))) {
    return Status::Corruption(txn_path + " does not parse as a Transaction");
  }
  return txn;
}

// Whether the manifest of `version` carries the transaction `uuid` (Lance's commit verification).
Result<bool> committed_by(const std::string& root, ManifestNaming naming, uint64_t version, const std::string& uuid) {
  LANCER_ASSIGN_OR_RETURN(Transaction txn, read_transaction(root, naming, version));
  return txn.uuid() == uuid;
}

}  // namespace

// Lance's rules for a CreateIndex meeting a concurrent commit (format notes
// 4.4). `index` is the entry being committed; an Update that rewrote the
// indexed field removes the fragments it touched from its bitmap. Operations
// whose effect lancer does not model are conflicts: giving up is safe, a wrong
// rebase is not.
Status check_compatible(const Transaction& other, IndexMetadata* index, uint64_t version) {
  const std::string at = "version " + std::to_string(version) + " committed meanwhile ";
  auto covered = [&]() -> Result<std::vector<uint32_t>> {
    const std::string& bm = index->fragment_bitmap();
    return roaring_decode(reinterpret_cast<const uint8_t*>(bm.data()), bm.size(), "the new index's fragment bitmap");
  };
  auto indexes_field = [&](int64_t field) {
    for (int32_t f : index->fields()) {
      if (f == field) return true;
    }
    return false;
  };
  switch (other.operation_case()) {
    case Transaction::kAppend:
    case Transaction::kDelete:
    case Transaction::kMerge:
    case Transaction::kReserveFragments:
    case Transaction::kProject:
    case Transaction::kUpdateConfig:
    case Transaction::kClone:
    case Transaction::kUpdateBases: return Status::OK();
    case Transaction::kCreateIndex:
      for (const auto& idx : other.create_index().new_indices()) {
        if (idx.name() == index->name()) {
          return Status::Conflict(at + "created an index of the same name \"" + index->name() + "\"");
        }
      }
      for (const auto& idx : other.create_index().removed_indices()) {
        if (idx.name() == index->name()) {
          return Status::Conflict(at + "dropped or replaced the index \"" + index->name() + "\"");
        }
      }
      return Status::OK();
    case Transaction::kRewrite: {
      LANCER_ASSIGN_OR_RETURN(auto ids, covered());
      const std::set<uint32_t> mine(ids.begin(), ids.end());
      auto touches = [&](const auto& fragments) {
        for (const auto& f : fragments) {
          if (mine.count(static_cast<uint32_t>(f.id()))) return true;
        }
        return false;
      };
      bool hit = touches(other.rewrite().old_fragments());
      for (const auto& g : other.rewrite().groups()) hit = hit || touches(g.old_fragments());
      if (hit) return Status::Conflict(at + "rewrote (compacted) fragments this index covers; rebuild the index");
      return Status::OK();
    }
    case Transaction::kUpdate: {
      bool changed_field = false;
      for (uint32_t f : other.update().fields_modified()) changed_field = changed_field || indexes_field(f);
      if (!changed_field) return Status::OK();
      LANCER_ASSIGN_OR_RETURN(auto ids, covered());
      std::set<uint32_t> drop;
      for (const auto& f : other.update().updated_fragments()) drop.insert(static_cast<uint32_t>(f.id()));
      std::vector<uint32_t> keep;
      for (uint32_t id : ids) {
        if (!drop.count(id)) keep.push_back(id);
      }
      index->set_fragment_bitmap(roaring_encode(keep));
      return Status::OK();
    }
    case Transaction::kDataReplacement:
      for (const auto& r : other.data_replacement().replacements()) {
        for (int32_t f : r.new_file().fields()) {
          if (indexes_field(f)) return Status::Conflict(at + "replaced the indexed column's data; rebuild the index");
        }
      }
      return Status::OK();
    case Transaction::kOverwrite: return Status::Conflict(at + "overwrote the dataset");
    case Transaction::kRestore: return Status::Conflict(at + "restored an older version");
    default: return Status::Conflict(at + "with an operation lancer cannot rebase over");
  }
}

std::string serialize_manifest_file(Manifest manifest, const IndexSection& section,
                                    const std::string& transaction_bytes) {
  std::string out;
  manifest.set_index_section(0);
  append_framed(&out, lance::serialize_deterministic(section));
  // Both fields: Lance 10 reads 21, Lance 14 reads 23.
  manifest.set_transaction_section(out.size());
  manifest.set_transaction_section_v14(out.size());
  append_framed(&out, transaction_bytes);
  const uint64_t manifest_pos = out.size();
  append_framed(&out, lance::serialize_deterministic(manifest));
  const uint16_t major = 0, minor = 2;
  out.append(reinterpret_cast<const char*>(&manifest_pos), 8);
  out.append(reinterpret_cast<const char*>(&major), 2);
  out.append(reinterpret_cast<const char*>(&minor), 2);
  out.append("LANC", 4);
  return out;
}

Result<CommitResult> commit_create_index(const CreateIndexCommit& c) {
  CommitResult result;
  // Our segments; their bitmaps may shrink when rebased over an Update.
  std::vector<IndexMetadata> segments{c.index};
  segments.insert(segments.end(), c.more_segments.begin(), c.more_segments.end());
  const IndexMetadata& index = segments.front();
  uint64_t base = c.read_version;
  for (;;) {
    VersionListing listing;
    ManifestFile mf;
    if (c.read_manifest != nullptr && base == c.read_version && c.read_manifest->manifest.version() == base) {
      listing.naming = c.naming;
      mf = *c.read_manifest;
    } else {
      LANCER_ASSIGN_OR_RETURN(listing, list_versions(c.root));
      const std::string base_name = "_versions/" + manifest_file_name(base, listing.naming);
      LANCER_ASSIGN_OR_RETURN(mf, read_manifest(storage::join_path(c.root, base_name), base_name));
    }
    const Manifest& m = mf.manifest;
    LANCER_RETURN_IF_ERROR(check_feature_flags(m.reader_feature_flags(), "reader").context(c.root));
    LANCER_RETURN_IF_ERROR(check_feature_flags(m.writer_feature_flags(), "writer").context(c.root));

    IndexSection section;
    Transaction txn;
    txn.set_read_version(base);
    txn.set_uuid(core::uuid_to_string(core::random_uuid_bytes()));
    auto* op = txn.mutable_create_index();
    result.removed.clear();
    if (mf.index_section) {
      for (const auto& existing : mf.index_section->indices()) {
        bool same_uuid = false;
        for (const auto& seg : segments) same_uuid = same_uuid || existing.uuid().uuid() == seg.uuid().uuid();
        if (existing.name() == index.name() || same_uuid) {
          if (!c.replace && !same_uuid) {
            return Status::InvalidArgument("an index named \"" + index.name() + "\" already exists in " + c.root +
                                           " (use --replace to swap it out)");
          }
          *op->add_removed_indices() = existing;
          result.removed.push_back(existing.uuid().uuid());
          continue;
        }
        *section.add_indices() = existing;
      }
    }
    for (const auto& seg : segments) {
      *section.add_indices() = seg;
      *op->add_new_indices() = seg;
    }
    const std::string txn_bytes = lance::serialize_deterministic(txn);

    const bool txn_files = (m.writer_feature_flags() & kFlagTransactionFilesDisabled) == 0;
    const std::string txn_name = std::to_string(base) + "-" + txn.uuid() + ".txn";
    const std::string txn_path = storage::join_path(c.root, "_transactions/" + txn_name);
    if (txn_files) {
      LANCER_RETURN_IF_ERROR(storage::make_directories(storage::join_path(c.root, "_transactions")));
      LANCER_RETURN_IF_ERROR(storage::write_file_atomic(txn_path, txn_bytes));
    }
    Manifest next = m;
    next.set_version(base + 1);
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
    next.mutable_timestamp()->set_seconds(nanos / 1000000000);
    next.mutable_timestamp()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
    if (txn_files) {
      next.set_transaction_file(txn_name);
    } else {
      next.clear_transaction_file();
    }
    const std::string bytes = serialize_manifest_file(next, section, txn_bytes);

    const std::string versions_dir = storage::join_path(c.root, "_versions");
    const std::string final_path = storage::join_path(versions_dir, manifest_file_name(base + 1, listing.naming));
    // The one step that makes the index visible: put-if-absent (link(2) locally, a conditional
    // PUT on object stores).
    Result<bool> created = storage::create_file_exclusive(final_path, bytes);
    if (!created.ok() || !*created) {
      // Taken, or no answer. A PUT whose answer was lost (and perhaps retried by the client,
      // then refused as a duplicate) lands here although it succeeded: verify, as Lance does,
      // whose version is there.
      Result<bool> ours = committed_by(c.root, listing.naming, base + 1, txn.uuid());
      if (ours.ok()) {
        created = *ours;
      } else if (created.ok() || ours.status().code() != StatusCode::kNotFound) {
        return Status::IOError("cannot tell whether version " + std::to_string(base + 1) + " of " + c.root +
                               " is this commit: " + ours.status().message());
      }  // else: nothing there; the PUT's own error stands
    }
    if (created.ok() && *created) {
      result.version = base + 1;
      if (!storage::is_object_store(c.root)) {
        // Best effort, as Lance (which keeps the hint only where listing is unordered): readers verify it.
        (void)storage::write_file_atomic(storage::join_path(versions_dir, "latest_version_hint.json"),
                                         "{\"version\":" + std::to_string(base + 1) + "}");
      }
      return result;
    }
    if (txn_files) (void)storage::remove_file(txn_path);
    if (!created.ok()) return created.status().context("cannot commit " + final_path);
    // Someone else committed base + 1: rebase over everything newer if compatible.
    if (++result.retries > c.max_retries) {
      return Status::Conflict("gave up committing to " + c.root + " after " + std::to_string(c.max_retries) +
                              " concurrent commits");
    }
    LANCER_ASSIGN_OR_RETURN(VersionListing now_listing, list_versions(c.root));
    const uint64_t latest = now_listing.versions.back();
    for (uint64_t v = base + 1; v <= latest; ++v) {
      LANCER_ASSIGN_OR_RETURN(Transaction other, read_transaction(c.root, now_listing.naming, v));
      for (auto& seg : segments) LANCER_RETURN_IF_ERROR(check_compatible(other, &seg, v).context(c.root));
    }
    base = latest;
  }
}

}  // namespace lancer::lance
