// `lancer export URI --column COL --output FILE`: the vectors in row-address
// order as .npy (dtype as stored), .fvecs or raw .f32 (converted to float32).
#include <cstdio>
#include <iostream>
#include <optional>

#include "commands.h"
#include "core/npy.h"
#include "dataset/vector_stream.h"
#include "simd/convert.h"

namespace lancer::cli {

namespace {

struct ExportArgs {
  std::string uri, column, output, row_ids;
  std::optional<uint64_t> version;
};

enum class Format { kNpy, kFvecs, kF32 };

Result<Format> format_of(const std::string& path) {
  auto ends = [&](const std::string& ext) { return path.size() > ext.size() && path.ends_with(ext); };
  if (ends(".npy")) return Format::kNpy;
  if (ends(".fvecs")) return Format::kFvecs;
  if (ends(".f32")) return Format::kF32;
  return Status::InvalidArgument("output " + path + ": unknown extension (use .npy, .fvecs or .f32)");
}

const char* npy_descr(lance::ElementType t) {
  switch (t) {
    case lance::ElementType::kFloat32: return "<f4";
    case lance::ElementType::kFloat16: return "<f2";
    case lance::ElementType::kUInt8: return "|u1";
  }
  return "";
}

Status run_export(const ExportArgs& args) {
  LANCER_ASSIGN_OR_RETURN(Format format, format_of(args.output));
  LANCER_ASSIGN_OR_RETURN(auto ds, dataset::Dataset::open(args.uri, args.version));
  LANCER_ASSIGN_OR_RETURN(auto stream, dataset::VectorStream::open(ds, args.column));
  const lance::VectorType type = stream->column().type;
  // Write to temporary names; rename only when everything succeeded.
  const std::string tmp = args.output + ".tmp";
  const std::string ids_tmp = args.row_ids + ".tmp";
  std::optional<core::NpyWriter> npy, ids;
  std::FILE* raw = nullptr;
  if (format == Format::kNpy) {
    LANCER_ASSIGN_OR_RETURN(npy, core::NpyWriter::create(tmp, npy_descr(type.element), {type.dim}));
  } else {
    raw = std::fopen(tmp.c_str(), "wb");
    if (raw == nullptr) return Status::IOError("cannot create " + tmp + ": " + std::strerror(errno));
  }
  if (!args.row_ids.empty()) {
    LANCER_ASSIGN_OR_RETURN(ids, core::NpyWriter::create(ids_tmp, "<u8", {}));
  }
  auto cleanup = [&](Status st) {
    if (raw) std::fclose(raw);
    std::remove(tmp.c_str());
    if (!args.row_ids.empty()) std::remove(ids_tmp.c_str());
    return st;
  };
  dataset::VectorBatch batch;
  std::vector<float> floats, record;
  for (;;) {
    auto more = stream->next(&batch);
    if (!more.ok()) return cleanup(more.status());
    if (!*more) break;
    Status st;
    if (format == Format::kNpy) {
      st = npy->append(batch.values.data(), batch.num_rows);
    } else {
      simd::to_float32(batch.values.data(), batch.num_rows * type.dim, type.element, &floats);
      if (format == Format::kF32) {
        if (std::fwrite(floats.data(), 4, floats.size(), raw) != floats.size())
          st = Status::IOError("cannot write " + tmp);
      } else {
        const int32_t dim = static_cast<int32_t>(type.dim);
        for (size_t r = 0; r < batch.num_rows && st.ok(); ++r) {
          if (std::fwrite(&dim, 4, 1, raw) != 1 ||
              std::fwrite(floats.data() + r * type.dim, 4, type.dim, raw) != type.dim) {
            st = Status::IOError("cannot write " + tmp);
          }
        }
      }
    }
    if (st.ok() && ids) st = ids->append(batch.row_ids.data(), batch.num_rows);
    if (!st.ok()) return cleanup(st);
  }
  Status st = npy ? npy->close() : Status::OK();
  if (raw) {
    if (std::fclose(raw) != 0 && st.ok()) st = Status::IOError("cannot finish " + tmp);
    raw = nullptr;
  }
  if (st.ok() && ids) st = ids->close();
  if (!st.ok()) return cleanup(st);
  if (std::rename(tmp.c_str(), args.output.c_str()) != 0 ||
      (!args.row_ids.empty() && std::rename(ids_tmp.c_str(), args.row_ids.c_str()) != 0)) {
    return cleanup(Status::IOError("cannot rename the output into place: " + std::string(std::strerror(errno))));
  }
  const auto& s = stream->stats();
  std::cerr << "exported " << s.rows << " vectors (" << lance::element_type_name(type.element) << " x " << type.dim
            << ") to " << args.output << "; skipped " << s.null_rows << " null and " << s.deleted_rows
            << " deleted rows" << std::endl;
  return Status::OK();
}

}  // namespace

Command add_export_command(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* sub = app.add_subcommand("export", "Write a vector column to .npy, .fvecs or .f32 in row-address order");
  sub->add_option("uri", args->uri, "Dataset: a folder or an object-store URI (s3://, gs://, az://)")->required();
  sub->add_option("--column", args->column, "Vector column (a dotted path for a struct member)")->required();
  sub->add_option("--output", args->output, "Output file: .npy (dtype as stored), .fvecs or .f32 (float32)")
      ->required();
  sub->add_option("--row-ids", args->row_ids, "Also write the row ids (addresses or stable ids) as uint64 .npy");
  sub->add_option("--version", args->version, "Dataset version (default: latest)");
  return {sub, [args] {
            Status st = run_export(*args);
            return st.ok() ? 0 : report_error(st);
          }};
}

}  // namespace lancer::cli
