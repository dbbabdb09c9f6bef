/*
 * A pass-through transform: every record goes on to the stage's default
 * output, unchanged. Copy this directory to start a transform of your own;
 * `cargo xtask wasm` builds this one as target/wasm/c-template.wasm.
 *
 * sluice.h (sdk/c/) explains the rules; in short: the batch belongs to the
 * SDK, records moved into the outputs belong to the outputs, and everything
 * the outputs or an error point to is malloc'd.
 */
#include "sluice.h"

/* Runs once, before the first batch, with the JSON text of the stage's
 * `config` table. A real transform parses and checks it here, and fails
 * with sluice_error_invalid_config(...) so a broken pipeline never starts. */
sluice_result_t sluice_init(sluice_string_t config) {
    sluice_log(SLUICE_LOG_DEBUG, "c-template: init with %zu bytes of config", config.len);
    return sluice_ok();
}

/* Runs once per batch. Moving a record into the outputs copies nothing. */
sluice_result_t sluice_process(sluice_batch_t *batch, sluice_outputs_t *outputs) {
    /* One allocation for the whole batch; after it, moves cannot fail. */
    if (!sluice_outputs_reserve(outputs, batch->len)) {
        return sluice_error_internal("c-template: out of memory for %zu outputs", batch->len);
    }
    for (size_t i = 0; i < batch->len; i++) {
        /* NULL: the default output; name a declared output to route. */
        sluice_outputs_move(outputs, &batch->ptr[i], NULL);
    }
    return sluice_ok();
}
