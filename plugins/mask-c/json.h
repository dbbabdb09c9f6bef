/*
 * A strict JSON (RFC 8259) parser into a tree, and a compact writer, with
 * exactly the behaviour `mask` needs (plugins/README.md, "`mask`,
 * exactly"):
 *
 * - the input must be valid UTF-8; whitespace is space, tab, LF and CR;
 * - nesting deeper than JSON_DEPTH_MAX arrays/objects is rejected;
 * - `\u` escapes must form valid UTF-16 (no lone surrogates);
 * - numbers keep their source text, except that an exponent is written as
 *   `e` followed by an explicit sign (`1E5` becomes `1e+5`);
 * - object members keep their order; a duplicate key keeps the position of
 *   its first occurrence and the value of its last.
 *
 * json_parse.c parses, json_write.c writes, json_doc.c holds the arena and
 * the tree helpers.
 *
 * Memory: a parsed tree lives in one arena (json_doc_t) and is freed at
 * once with json_doc_free; nodes are never freed one by one. Strings in the
 * tree are decoded UTF-8 with a length (they may hold NUL bytes) and are not
 * NUL-terminated.
 */
#ifndef MASK_JSON_H
#define MASK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Arrays/objects may nest at most this deep minus one: depth 128 fails. */
#define JSON_DEPTH_MAX 128

typedef enum json_kind {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_kind_t;

typedef struct json_value json_value_t;

/* Bytes with a length: a decoded string, a number's text, a key. */
typedef struct json_text {
    const char *ptr;
    size_t len;
} json_text_t;

typedef struct json_member {
    json_text_t key;
    json_value_t *value;
} json_member_t;

struct json_value {
    json_kind_t kind;
    union {
        /* JSON_NUMBER: the normalised source text; JSON_STRING: decoded. */
        json_text_t text;
        struct {
            json_value_t **items;
            size_t len;
        } array;
        struct {
            json_member_t *members;
            size_t len;
        } object;
    } as;
};

typedef struct json_chunk json_chunk_t;

/* The arena a tree lives in. Zero-initialise it before json_parse. */
typedef struct json_doc {
    json_chunk_t *chunks;
    /* How many members replaced an earlier one with the same key. */
    size_t duplicate_keys;
} json_doc_t;

typedef enum json_status {
    JSON_OK,
    /* Not UTF-8, not JSON, or beyond a limit; `json_error_t` says where. */
    JSON_INVALID,
    /* malloc failed: the input may well be valid. */
    JSON_NO_MEMORY,
} json_status_t;

typedef struct json_error {
    /* Byte offset in the input where parsing stopped. */
    size_t offset;
    /* A static English phrase, e.g. "expected ',' or '}'". */
    const char *reason;
} json_error_t;

/*
 * Parses `len` bytes of `input` as one JSON value (whitespace around it
 * allowed). On JSON_OK, *root points into `doc`; on failure `error` (when
 * not NULL) says why, and `doc` may hold partial allocations: free it
 * either way.
 */
json_status_t json_parse(json_doc_t *doc, const uint8_t *input, size_t len, json_value_t **root,
                         json_error_t *error);

void json_doc_free(json_doc_t *doc);

/* Allocates `size` bytes (8-byte aligned) in `doc`; NULL when out of
 * memory. Freed with the doc. */
void *json_doc_alloc(json_doc_t *doc, size_t size);

/* A copy of `len` bytes in `doc`; NULL when out of memory. */
char *json_doc_copy(json_doc_t *doc, const void *bytes, size_t len);

/* True when `a` and `b` hold the same bytes. */
bool json_text_eq(json_text_t a, json_text_t b);

/* The member of `object` named `key`, or NULL (also when `object` is not an
 * object). */
json_member_t *json_object_member(json_value_t *object, const char *key, size_t key_len);

/* A new string node in `doc` holding a copy of `len` bytes; NULL when out of
 * memory. */
json_value_t *json_new_string(json_doc_t *doc, const char *bytes, size_t len);

/* A growable byte buffer, owned by the caller, released with free(ptr). */
typedef struct json_buf {
    char *ptr;
    size_t len;
    size_t cap;
} json_buf_t;

/* Append to `out`; false when out of memory (`out` is then unchanged). */
bool json_buf_append(json_buf_t *out, const void *bytes, size_t len);
bool json_buf_push(json_buf_t *out, char byte);

/* Appends the compact text of `value` to `out`; false when out of memory. */
bool json_write(json_buf_t *out, const json_value_t *value);

#endif
