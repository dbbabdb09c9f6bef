/*
 * Native tests of the C SDK (sluice.c) through the bindings' own export
 * entry points, run by sdk/c/test.sh under AddressSanitizer and
 * LeakSanitizer: each test hands the exports heap memory the way the host
 * does (through cabi_realloc), reads the result area the way the host
 * does, then calls the post-return function. A double free, a leak or a
 * free of a non-heap pointer fails the run, which is how the ownership
 * rules of sluice.h are checked. The last line is "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

/* The export entry points and intrinsics of the generated transform.c. */
uint8_t *__wasm_export_exports_transform_init(uint8_t *config, size_t len);
uint8_t *__wasm_export_exports_transform_process(uint8_t *batch, size_t len);
void __wasm_export_exports_transform_init_post_return(uint8_t *ret);
void __wasm_export_exports_transform_process_post_return(uint8_t *ret);
void *cabi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size);

static int passed;
static int failed;

static void check(int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "FAIL %s\n", what);
    }
}

/* ---- the host's side ------------------------------------------------------- */

/* The last message logged through sluice:pipeline/log. */
static char logged[256];
static int logged_level = -1;

void __wasm_import_sluice_pipeline_log_log(int32_t level, uint8_t *ptr, size_t len) {
    logged_level = level;
    snprintf(logged, sizeof logged, "%.*s", (int)len, (const char *)ptr);
}

/* Bytes the way the host lowers them: heap memory from cabi_realloc, or
 * the alignment as a dangling pointer when empty. */
static transform_list_u8_t host_bytes(const char *text) {
    size_t len = strlen(text);
    uint8_t *ptr = cabi_realloc(NULL, 0, 1, len);
    memcpy(ptr, text, len);
    return (transform_list_u8_t){ptr, len};
}

static transform_string_t host_string(const char *text) {
    transform_list_u8_t bytes = host_bytes(text);
    return (transform_string_t){bytes.ptr, bytes.len};
}

static sluice_record_t host_record(const char *key, const char *value, int with_origin) {
    sluice_record_t record = {0};
    record.key.is_some = key != NULL;
    if (key != NULL) {
        record.key.val = host_bytes(key);
    }
    record.value.is_some = true;
    record.value.val = host_bytes(value);
    record.headers.len = 2;
    record.headers.ptr = cabi_realloc(NULL, 0, 8, 2 * sizeof(sluice_header_t));
    record.headers.ptr[0] = (sluice_header_t){host_string("trace"), {true, host_bytes("t1")}};
    record.headers.ptr[1] = (sluice_header_t){host_string("empty"), {true, host_bytes("")}};
    record.timestamp = 1700000000000;
    if (with_origin) {
        record.origin.is_some = true;
        record.origin.val = (sluice_pipeline_types_origin_t){host_string("orders"), 3, 42};
    }
    return record;
}

static int bytes_are(const transform_list_u8_t *bytes, const char *text) {
    return bytes->len == strlen(text) && (bytes->len == 0 || memcmp(bytes->ptr, text, bytes->len) == 0);
}

/* The result area: tag, then (ok) a list or (err) kind and message. */
static int result_is_err(const uint8_t *ret) { return ret[0] == 1; }

static sluice_error_kind_t result_kind(const uint8_t *ret) { return ret[sizeof(void *)]; }

static int result_message_is(const uint8_t *ret, const char *text) {
    transform_list_u8_t message = {*(uint8_t **)(ret + 2 * sizeof(void *)), *(size_t *)(ret + 3 * sizeof(void *))};
    return bytes_are(&message, text);
}

static transform_list_output_t result_outputs(const uint8_t *ret) {
    return (transform_list_output_t){*(sluice_output_t **)(ret + sizeof(void *)), *(size_t *)(ret + 2 * sizeof(void *))};
}

/* ---- the transform under test: its behaviour is picked per test ------------ */

typedef enum scenario {
    ROUTE_AND_REWRITE,
    FAIL_AFTER_A_MOVE,
    DROP_EVERYTHING,
} scenario_t;

static scenario_t scenario;

sluice_result_t sluice_init(sluice_string_t config) {
    char *text = sluice_string_to_cstr(&config);
    int fine = text != NULL && strcmp(text, "{\"ok\": true}") == 0;
    check(sluice_string_eq(&config, text), "sluice_string_eq matches sluice_string_to_cstr");
    free(text);
    if (!fine) {
        return sluice_error_invalid_config("config %zu bytes: want {\"ok\": true}", config.len);
    }
    return sluice_ok();
}

sluice_result_t sluice_process(sluice_batch_t *batch, sluice_outputs_t *outputs) {
    switch (scenario) {
    case ROUTE_AND_REWRITE: {
        /* Record 0 moves to the default output, record 1 is copied to
         * "side" with a new value, record 2 is dropped. */
        const sluice_header_t *trace = sluice_record_header(&batch->ptr[0], "trace");
        check(trace != NULL && bytes_are(&trace->value.val, "t1"), "sluice_record_header finds a header");
        check(sluice_record_header(&batch->ptr[0], "missing") == NULL, "sluice_record_header misses");
        if (!sluice_outputs_move(outputs, &batch->ptr[0], NULL) || !sluice_outputs_copy(outputs, &batch->ptr[1], "side")
            || !sluice_record_set_value(&outputs->ptr[1].record, "new", 3)) {
            return sluice_error_internal("out of memory");
        }
        check(!batch->ptr[0].value.is_some && batch->ptr[0].headers.len == 0, "a moved record is zeroed");
        sluice_log(SLUICE_LOG_INFO, "processed %zu records", batch->len);
        return sluice_ok();
    }
    case FAIL_AFTER_A_MOVE:
        sluice_outputs_move(outputs, &batch->ptr[0], "side");
        return sluice_error_unavailable("upstream %s is down", "db");
    case DROP_EVERYTHING:
        /* Room reserved but unused: the SDK must free it, since the
         * post-return function frees only non-empty lists. */
        return sluice_outputs_reserve(outputs, 4) ? sluice_ok() : sluice_error_internal("out of memory");
    }
    return sluice_error_internal("unknown scenario");
}

/* ---- tests ------------------------------------------------------------------ */

static void test_init(void) {
    transform_string_t config = host_string("{\"ok\": true}");
    uint8_t *ret = __wasm_export_exports_transform_init(config.ptr, config.len);
    check(!result_is_err(ret), "init succeeds");
    __wasm_export_exports_transform_init_post_return(ret);

    config = host_string("{}");
    ret = __wasm_export_exports_transform_init(config.ptr, config.len);
    check(result_is_err(ret) && result_kind(ret) == SLUICE_INVALID_CONFIG, "init fails with invalid-config");
    check(result_message_is(ret, "config 2 bytes: want {\"ok\": true}"), "the error message is formatted");
    __wasm_export_exports_transform_init_post_return(ret);
}

static void test_process_routes_copies_and_drops(void) {
    scenario = ROUTE_AND_REWRITE;
    sluice_record_t *batch = cabi_realloc(NULL, 0, 8, 3 * sizeof *batch);
    batch[0] = host_record("k0", "v0", 1);
    batch[1] = host_record(NULL, "v1", 1);
    batch[2] = host_record("k2", "v2", 0);
    uint8_t *ret = __wasm_export_exports_transform_process((uint8_t *)batch, 3);
    check(!result_is_err(ret), "process succeeds");
    transform_list_output_t outputs = result_outputs(ret);
    check(outputs.len == 2, "two outputs");
    if (outputs.len == 2) {
        const sluice_output_t *moved = &outputs.ptr[0];
        const sluice_output_t *copied = &outputs.ptr[1];
        check(!moved->target.is_some, "a NULL target is the default output");
        check(bytes_are(&moved->record.key.val, "k0") && bytes_are(&moved->record.value.val, "v0"), "moved record");
        check(moved->record.origin.is_some && moved->record.origin.val.offset == 42, "moved origin");
        check(copied->target.is_some && bytes_are((const transform_list_u8_t *)&copied->target.val, "side"),
              "a named target");
        check(!copied->record.key.is_some && bytes_are(&copied->record.value.val, "new"), "copied record, new value");
        check(copied->record.headers.len == 2 && copied->record.headers.ptr[1].value.is_some
                  && copied->record.headers.ptr[1].value.val.len == 0,
              "copied headers, an empty value kept");
        check(copied->record.origin.is_some && copied->record.origin.val.partition == 3
                  && bytes_are((const transform_list_u8_t *)&copied->record.origin.val.topic, "orders"),
              "copied origin");
        check(copied->record.timestamp == 1700000000000, "copied timestamp");
    }
    check(logged_level == SLUICE_LOG_INFO && strcmp(logged, "processed 3 records") == 0, "sluice_log reaches the host");
    __wasm_export_exports_transform_process_post_return(ret);
}

static void test_process_error_frees_outputs(void) {
    scenario = FAIL_AFTER_A_MOVE;
    sluice_record_t *batch = cabi_realloc(NULL, 0, 8, 2 * sizeof *batch);
    batch[0] = host_record("k0", "v0", 1);
    batch[1] = host_record("k1", "v1", 0);
    uint8_t *ret = __wasm_export_exports_transform_process((uint8_t *)batch, 2);
    check(result_is_err(ret) && result_kind(ret) == SLUICE_UNAVAILABLE, "process fails with unavailable");
    check(result_message_is(ret, "upstream db is down"), "the error message is formatted");
    __wasm_export_exports_transform_process_post_return(ret);
}

static void test_empty_batch(void) {
    scenario = DROP_EVERYTHING;
    /* What cabi_realloc gives for a zero-length list: not a heap pointer. */
    uint8_t *ret = __wasm_export_exports_transform_process(cabi_realloc(NULL, 0, 8, 0), 0);
    transform_list_output_t outputs = result_outputs(ret);
    check(!result_is_err(ret) && outputs.len == 0 && outputs.ptr == NULL, "an empty batch gives an empty list");
    __wasm_export_exports_transform_process_post_return(ret);
}

int main(void) {
    test_init();
    test_process_routes_copies_and_drops();
    test_process_error_frees_outputs();
    test_empty_batch();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
