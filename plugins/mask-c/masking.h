/*
 * The `mask` rules as plain functions over bytes (plugins/README.md,
 * "`mask`, exactly"), kept apart from the Sluice glue in mask.c so the
 * native unit tests (test.sh) exercise them without a Wasm runtime.
 */
#ifndef MASK_MASKING_H
#define MASK_MASKING_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

typedef enum mask_mode {
    /* The member's value becomes the string "***". */
    MASK_REDACT,
    /* The member's value becomes the lowercase hex SHA-256 of the value. */
    MASK_HASH,
} mask_mode_t;

/* One dotted path, split at '.': at least one segment, none empty. */
typedef struct mask_path {
    json_text_t *segments;
    size_t len;
} mask_path_t;

typedef struct mask {
    mask_mode_t mode;
    mask_path_t *paths;
    size_t path_count;
    /* The parsed config: the segments point into its strings. */
    json_doc_t config;
} mask_t;

typedef enum mask_status {
    MASK_OK,
    MASK_INVALID_CONFIG,
    MASK_NO_MEMORY,
} mask_status_t;

/*
 * Parses and validates the config (JSON text). On MASK_INVALID_CONFIG,
 * *message is a malloc'd, NUL-terminated explanation the caller frees (or
 * NULL when even that allocation failed). Call mask_free on success.
 */
mask_status_t mask_from_config(mask_t *mask, const char *config, size_t len, char **message);

void mask_free(mask_t *mask);

typedef enum mask_outcome {
    /* Not a JSON object, or no path present: keep the value's bytes. */
    MASK_UNCHANGED,
    /* *out holds the masked value (malloc'd; the caller owns it). */
    MASK_CHANGED,
    /* malloc failed; nothing was masked, so the value must not be passed on
     * as it is. */
    MASK_OUT_OF_MEMORY,
} mask_outcome_t;

mask_outcome_t mask_apply(const mask_t *mask, const uint8_t *value, size_t len, uint8_t **out, size_t *out_len);

#endif
