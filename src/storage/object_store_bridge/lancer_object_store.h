// C ABI of the Rust object-store bridge (src/lib.rs): the `object_store` crate Lance 14 uses.
// Every function blocks; any thread may call; codes below; `err` receives a message the caller
// frees with lancer_os_free_string (secret option values replaced by "***").
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  LOS_OK = 0,
  LOS_NOT_FOUND = 1,
  LOS_ALREADY_EXISTS = 2,  // a conditional PUT lost (412/409/304)
  LOS_INVALID = 3,
  LOS_IO = 4,
  LOS_NOT_SUPPORTED = 5,
  LOS_PERMISSION = 6,
};

typedef struct lancer_os_store lancer_os_store;
typedef struct lancer_os_writer lancer_os_writer;
typedef void (*lancer_os_list_cb)(void* ctx, const char* key, uint64_t size, int is_prefix);

int lancer_os_open(const char* url, const char* const* keys, const char* const* values, size_t n, lancer_os_store** out,
                   char** err);
void lancer_os_close(lancer_os_store* store);
void lancer_os_free_string(char* s);
void lancer_os_free_bytes(uint8_t* data, size_t len);

int lancer_os_head(const lancer_os_store* store, const char* key, uint64_t* size, char** err);
int lancer_os_get(const lancer_os_store* store, const char* key, uint8_t** data, size_t* len, char** err);
int lancer_os_get_ranges(const lancer_os_store* store, const char* key, size_t n, const uint64_t* starts,
                         const uint64_t* lens, uint8_t* const* outs, char** err);
int lancer_os_put(const lancer_os_store* store, const char* key, const uint8_t* data, size_t len, int if_absent,
                  char** err);
int lancer_os_writer_open(const lancer_os_store* store, const char* key, lancer_os_writer** out, char** err);
int lancer_os_writer_write(lancer_os_writer* w, const uint8_t* data, size_t len, char** err);
int lancer_os_writer_finish(lancer_os_writer* w, char** err);
void lancer_os_writer_free(lancer_os_writer* w);
int lancer_os_list(const lancer_os_store* store, const char* prefix, int recursive, lancer_os_list_cb cb, void* ctx,
                   char** err);
int lancer_os_delete(const lancer_os_store* store, const char* key, char** err);
int lancer_os_delete_many(const lancer_os_store* store, const char* const* keys, size_t n, char** err);

#ifdef __cplusplus
}
#endif
