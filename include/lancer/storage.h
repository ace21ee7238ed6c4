// Public API: where datasets live. Every function of lancer takes a local path, a file:// URI or
// an object-store URI (s3://, gs://, az://, abfss://) as Lance does; an object store is reached
// with Lance's storage_options keys (aws_access_key_id, aws_region, aws_endpoint, allow_http, ...),
// the standard environment variables (AWS_*, GOOGLE_*, AZURE_*) filling in what they leave unset.
#pragma once

#include <map>
#include <string>

#include "lancer/status.h"

namespace lancer {

using StorageOptions = std::map<std::string, std::string>;

// Registers the options of the store (scheme://bucket) holding `uri`, for every later call in
// this process; they replace earlier ones (an empty map keeps them). NotSupported for schemes lancer cannot use safely
// (s3+ddb://) or when built without the object-store backend.
Status set_storage_options(const std::string& uri, const StorageOptions& options);
// Options for every store that set_storage_options did not name (the CLI's --storage-option).
Status set_default_storage_options(const StorageOptions& options);
// Whole small files at any location (a file:// path, an object-store URI): written atomically
// (one PUT, or a temporary name and a rename); removing a missing file is fine.
Status write_file(const std::string& uri, const std::string& bytes);
Status remove_file(const std::string& uri);
Status remove_tree(const std::string& uri);  // a folder or prefix and all under it
// Whether this build reaches object stores (LANCER_OBJECT_STORE).
bool object_store_supported();

}  // namespace lancer
