/*
 * mask-c: the `mask` transform in C, on the C SDK (sdk/c/sluice.h).
 *
 * Config: {"fields": ["email", "card.number"], "mode": "redact" | "hash"}.
 * Each named field present in a record's JSON value becomes "***" or the
 * lowercase hex SHA-256 of its value; the rules, to the byte, are in
 * plugins/README.md ("`mask`, exactly") and live in masking.c. This file
 * only maps them over the batch: one output per record, in order, to the
 * default output, with key, headers and timestamp kept.
 */
#include <stdlib.h>

#include "masking.h"
#include "sluice.h"

/* The validated config; set by a successful sluice_init. */
static mask_t mask;
static bool configured;

sluice_result_t sluice_init(sluice_string_t config) {
    if (configured) {
        mask_free(&mask);
        configured = false;
    }
    char *message;
    switch (mask_from_config(&mask, (const char *)config.ptr, config.len, &message)) {
    case MASK_OK:
        configured = true;
        return sluice_ok();
    case MASK_INVALID_CONFIG: {
        sluice_result_t error = sluice_error_invalid_config("%s", message ? message : "mask: invalid config");
        free(message);
        return error;
    }
    case MASK_NO_MEMORY:
        break;
    }
    return sluice_error_internal("mask: out of memory reading a config of %zu bytes", config.len);
}

sluice_result_t sluice_process(sluice_batch_t *batch, sluice_outputs_t *outputs) {
    if (!configured) {
        return sluice_error_internal("mask: process was called before a successful init");
    }
    /* Reserved up front, so the moves below cannot fail. */
    if (!sluice_outputs_reserve(outputs, batch->len)) {
        return sluice_error_internal("mask: out of memory for %zu outputs", batch->len);
    }
    for (size_t i = 0; i < batch->len; i++) {
        sluice_record_t *record = &batch->ptr[i];
        if (record->value.is_some) {
            uint8_t *masked = NULL;
            size_t masked_len = 0;
            switch (mask_apply(&mask, record->value.val.ptr, record->value.val.len, &masked, &masked_len)) {
            case MASK_UNCHANGED:
                break;
            case MASK_CHANGED:
                sluice_record_adopt_value(record, masked, masked_len);
                break;
            case MASK_OUT_OF_MEMORY:
                /* Passing the value on unmasked would leak what the stage
                 * exists to hide: fail the batch instead. */
                return sluice_error_internal("mask: out of memory masking record %zu of %zu (a value of %zu bytes)",
                                             i, batch->len, record->value.val.len);
            }
        }
        sluice_outputs_move(outputs, record, NULL);
    }
    return sluice_ok();
}
