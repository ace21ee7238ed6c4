#include "pipeline/model_file.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/checksum.h"
#include "quant/registry.h"

namespace lancer::pipeline {

namespace {

constexpr char kMagic[8] = {'L', 'N', 'C', 'R', 'M', 'D', 'L', '1'};

void append(std::string* out, const void* p, size_t n) { out->append(static_cast<const char*>(p), n); }

}  // namespace

std::string serialize_model(const ivf::IndexModel& m) {
  nlohmann::ordered_json h;
  h["type"] = quant::index_type_name(m.kind);
  h["metric"] = simd::metric_name(m.metric);
  h["element"] = lance::element_type_name(m.column.element);
  h["dim"] = m.column.dim;
  h["num_partitions"] = m.num_partitions;
  h["loss"] = m.loss;
  // The codec's own section ("pq", "sq"); its floats follow the centroids.
  if (const char* key = m.codec->model_key()) h[key] = nlohmann::ordered_json::parse(m.codec->model_header());
  const std::string header = h.dump();
  std::string out(kMagic, sizeof(kMagic));
  const uint32_t len = static_cast<uint32_t>(header.size());
  append(&out, &len, 4);
  out += header;
  append(&out, m.centroids.data(), m.centroids.size() * 4);
  const auto floats = m.codec->model_floats();
  append(&out, floats.data(), floats.size() * 4);
  const uint64_t sum = core::fnv1a64(out);
  append(&out, &sum, 8);
  return out;
}

uint64_t model_checksum(const std::string& serialized) {
  uint64_t sum = 0;
  if (serialized.size() >= 8) std::memcpy(&sum, serialized.data() + serialized.size() - 8, 8);
  return sum;
}

Result<std::shared_ptr<const ivf::IndexModel>> parse_model(const std::string& bytes, const std::string& what) {
  auto bad = [&](const std::string& why) { return Status::Corruption(what + ": " + why); };
  if (bytes.size() < sizeof(kMagic) + 12 || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return bad("not a lancer model file");
  }
  if (core::fnv1a64(bytes.data(), bytes.size() - 8) != model_checksum(bytes)) return bad("checksum mismatch");
  uint32_t len;
  std::memcpy(&len, bytes.data() + 8, 4);
  if (len > bytes.size() - 20) return bad("header longer than the file");
  auto m = std::make_shared<ivf::IndexModel>();
  size_t at = 12 + len;
  try {
    const auto h = nlohmann::json::parse(bytes.substr(12, len));
    const std::string type = h.at("type"), element = h.at("element");
    // A name this binary does not know (a model written by a newer lancer) is refused, never
    // read as some default.
    auto unknown = [&](const char* field, const std::string& name) {
      return Status::NotSupported(what + ": unknown " + field + " \"" + name +
                                  "\" (written by a newer lancer? rerun the train phase with this one)");
    };
    auto kind = quant::parse_index_type(type);
    if (!kind.ok()) return unknown("index type", type);
    m->kind = *kind;
    const std::string metric = h.at("metric");
    const auto parsed_metric = simd::parse_metric(metric);
    if (!parsed_metric) return unknown("metric", metric);
    m->metric = *parsed_metric;
    const lance::ElementType elements[] = {lance::ElementType::kFloat32, lance::ElementType::kFloat16,
                                           lance::ElementType::kUInt8};
    const auto* e = std::find_if(std::begin(elements), std::end(elements),
                                 [&](lance::ElementType t) { return element == lance::element_type_name(t); });
    if (e == std::end(elements)) return unknown("element type", element);
    m->column.element = *e;
    m->column.dim = h.at("dim");
    m->num_partitions = h.at("num_partitions");
    m->loss = h.at("loss");
    const size_t dim = m->column.dim;
    auto take_floats = [&](size_t n, std::vector<float>* out) -> Status {
      if (n > (bytes.size() - 8 - at) / 4) return bad("arrays longer than the file");
      out->resize(n);
      std::memcpy(out->data(), bytes.data() + at, n * 4);
      at += n * 4;
      return Status::OK();
    };
    LANCER_RETURN_IF_ERROR(take_floats(size_t{m->num_partitions} * dim, &m->centroids));
    quant::ModelSection section;
    section.dim = m->column.dim;
    section.half = m->column.element == lance::ElementType::kFloat16;
    const char* key = quant::quantizer(m->kind.quantizer).model_key;
    if (key && h.contains(key)) section.header = h[key].dump();
    std::vector<float> rest((bytes.size() - 8 - at) / 4);  // copied: the file's floats need not be aligned
    if (!rest.empty()) std::memcpy(rest.data(), bytes.data() + at, rest.size() * 4);
    section.floats = rest;
    size_t used = 0;
    auto codec = quant::codec_from_model(m->kind.quantizer, section, &used);
    if (!codec.ok()) return bad(codec.status().message());
    m->codec = *codec;
    at += used * 4;
  } catch (const std::exception& e) {
    return bad(std::string("bad header: ") + e.what());
  }
  if (at != bytes.size() - 8) return bad("trailing bytes after the arrays");
  LANCER_RETURN_IF_ERROR(m->validate());
  return std::shared_ptr<const ivf::IndexModel>(std::move(m));
}

}  // namespace lancer::pipeline
