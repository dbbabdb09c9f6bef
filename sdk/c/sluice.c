/*
 * sluice.c: the exports of world `transform` on top of the two functions a
 * C transform defines (sluice_init, sluice_process), and the helpers of
 * sluice.h. The ownership rules are in sluice.h; the comments here say
 * where the SDK honours them.
 */
#include "sluice.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the exports ------------------------------------------------------------ */

bool exports_transform_init(transform_config_t *config, transform_error_t *err) {
    sluice_result_t result = sluice_init(*config);
    /* The guest owns an export's arguments. */
    transform_string_free(config);
    if (result.is_err) {
        *err = result.err;
        return false;
    }
    return true;
}

bool exports_transform_process(transform_list_record_t *batch, transform_list_output_t *ret, transform_error_t *err) {
    sluice_outputs_t outputs = {0};
    sluice_result_t result = sluice_process(batch, &outputs);
    /* Frees the records left in the batch (moved ones were zeroed and own
     * nothing) and the list itself. */
    transform_list_record_free(batch);
    if (result.is_err) {
        sluice_outputs_free(&outputs);
        *err = result.err;
        return false;
    }
    if (outputs.len == 0) {
        /* The post-return function frees the list only when it is not
         * empty. */
        free(outputs.ptr);
        outputs.ptr = NULL;
    }
    ret->ptr = outputs.ptr;
    ret->len = outputs.len;
    return true;
}

/* ---- results and errors ------------------------------------------------------ */

/* A malloc'd message; empty when it cannot be allocated. */
static sluice_string_t vformat(const char *format, va_list args) {
    sluice_string_t message = {0};
    va_list measure;
    va_copy(measure, args);
    int len = vsnprintf(NULL, 0, format, measure);
    va_end(measure);
    if (len <= 0) {
        return message;
    }
    char *text = malloc((size_t)len + 1);
    if (text == NULL) {
        return message;
    }
    vsnprintf(text, (size_t)len + 1, format, args);
    message.ptr = (uint8_t *)text;
    message.len = (size_t)len;
    return message;
}

static sluice_result_t verror(sluice_error_kind_t kind, const char *format, va_list args) {
    sluice_result_t result = {.is_err = true};
    result.err.kind = kind;
    result.err.message = vformat(format, args);
    return result;
}

sluice_result_t sluice_error(sluice_error_kind_t kind, const char *format, ...) {
    va_list args;
    va_start(args, format);
    sluice_result_t result = verror(kind, format, args);
    va_end(args);
    return result;
}

#define DEFINE_ERROR(name, kind)                                  \
    sluice_result_t name(const char *format, ...) {               \
        va_list args;                                             \
        va_start(args, format);                                   \
        sluice_result_t result = verror(kind, format, args);      \
        va_end(args);                                             \
        return result;                                            \
    }

DEFINE_ERROR(sluice_error_invalid_config, SLUICE_INVALID_CONFIG)
DEFINE_ERROR(sluice_error_invalid_input, SLUICE_INVALID_INPUT)
DEFINE_ERROR(sluice_error_unavailable, SLUICE_UNAVAILABLE)
DEFINE_ERROR(sluice_error_internal, SLUICE_INTERNAL)

/* ---- logging -------------------------------------------------------------------- */

void sluice_log(sluice_log_level_t level, const char *format, ...) {
    va_list args;
    va_start(args, format);
    sluice_string_t message = vformat(format, args);
    va_end(args);
    /* The import borrows the message. */
    sluice_pipeline_log_log(level, &message);
    transform_string_free(&message);
}

/* ---- strings and bytes ---------------------------------------------------------- */

bool sluice_bytes_copy(sluice_bytes_t *out, const void *bytes, size_t len) {
    out->ptr = NULL;
    out->len = 0;
    if (len == 0) {
        return true;
    }
    out->ptr = malloc(len);
    if (out->ptr == NULL) {
        return false;
    }
    memcpy(out->ptr, bytes, len);
    out->len = len;
    return true;
}

/* Sets `*out` to a copy of `len` bytes as a string. */
static bool string_copy_n(sluice_string_t *out, const void *bytes, size_t len) {
    sluice_bytes_t copy;
    if (!sluice_bytes_copy(&copy, bytes, len)) {
        out->ptr = NULL;
        out->len = 0;
        return false;
    }
    out->ptr = copy.ptr;
    out->len = copy.len;
    return true;
}

bool sluice_string_copy(sluice_string_t *out, const char *text) { return string_copy_n(out, text, strlen(text)); }

bool sluice_string_eq(const sluice_string_t *string, const char *text) {
    size_t len = strlen(text);
    return string->len == len && (len == 0 || memcmp(string->ptr, text, len) == 0);
}

char *sluice_string_to_cstr(const sluice_string_t *string) {
    char *text = malloc(string->len + 1);
    if (text == NULL) {
        return NULL;
    }
    if (string->len > 0) {
        memcpy(text, string->ptr, string->len);
    }
    text[string->len] = '\0';
    return text;
}

static bool option_bytes_copy(sluice_option_bytes_t *to, const sluice_option_bytes_t *from) {
    to->is_some = from->is_some;
    if (!from->is_some) {
        to->val.ptr = NULL;
        to->val.len = 0;
        return true;
    }
    return sluice_bytes_copy(&to->val, from->val.ptr, from->val.len);
}

/* ---- records ---------------------------------------------------------------------- */

void sluice_record_free(sluice_record_t *record) {
    sluice_pipeline_types_record_free(record);
    memset(record, 0, sizeof *record);
}

bool sluice_record_copy(sluice_record_t *to, const sluice_record_t *from) {
    memset(to, 0, sizeof *to);
    to->timestamp = from->timestamp;
    if (!option_bytes_copy(&to->key, &from->key) || !option_bytes_copy(&to->value, &from->value)) {
        goto no_memory;
    }
    if (from->headers.len > 0) {
        to->headers.ptr = calloc(from->headers.len, sizeof *to->headers.ptr);
        if (to->headers.ptr == NULL) {
            goto no_memory;
        }
        /* Counted as they are copied, so a failure frees only those. */
        for (size_t i = 0; i < from->headers.len; i++) {
            const sluice_header_t *header = &from->headers.ptr[i];
            sluice_header_t *copy = &to->headers.ptr[i];
            to->headers.len = i + 1;
            if (!string_copy_n(&copy->key, header->key.ptr, header->key.len)
                || !option_bytes_copy(&copy->value, &header->value)) {
                goto no_memory;
            }
        }
    }
    if (from->origin.is_some) {
        to->origin = from->origin;
        if (!string_copy_n(&to->origin.val.topic, from->origin.val.topic.ptr, from->origin.val.topic.len)) {
            goto no_memory;
        }
    }
    return true;
no_memory:
    if (to->headers.len == 0) {
        /* calloc'd but nothing counted yet: the generated free would skip it. */
        free(to->headers.ptr);
        to->headers.ptr = NULL;
    }
    sluice_record_free(to);
    return false;
}

void sluice_record_clear_value(sluice_record_t *record) {
    transform_option_list_u8_free(&record->value);
    record->value.is_some = false;
    record->value.val.ptr = NULL;
    record->value.val.len = 0;
}

void sluice_record_adopt_value(sluice_record_t *record, uint8_t *bytes, size_t len) {
    sluice_record_clear_value(record);
    if (len == 0) {
        free(bytes);
        bytes = NULL;
    }
    record->value.is_some = true;
    record->value.val.ptr = bytes;
    record->value.val.len = len;
}

bool sluice_record_set_value(sluice_record_t *record, const void *bytes, size_t len) {
    sluice_bytes_t copy;
    if (!sluice_bytes_copy(&copy, bytes, len)) {
        return false;
    }
    sluice_record_adopt_value(record, copy.ptr, copy.len);
    return true;
}

const sluice_header_t *sluice_record_header(const sluice_record_t *record, const char *key) {
    for (size_t i = 0; i < record->headers.len; i++) {
        if (sluice_string_eq(&record->headers.ptr[i].key, key)) {
            return &record->headers.ptr[i];
        }
    }
    return NULL;
}

/* ---- outputs ----------------------------------------------------------------------- */

bool sluice_outputs_reserve(sluice_outputs_t *outputs, size_t extra) {
    if (outputs->cap - outputs->len >= extra) {
        return true;
    }
    if (extra > SIZE_MAX / sizeof(sluice_output_t) - outputs->len) {
        return false;
    }
    size_t cap = outputs->cap < 8 ? 8 : outputs->cap;
    while (cap - outputs->len < extra) {
        cap = cap > SIZE_MAX / sizeof(sluice_output_t) / 2 ? outputs->len + extra : cap * 2;
    }
    sluice_output_t *grown = realloc(outputs->ptr, cap * sizeof *grown);
    if (grown == NULL) {
        return false;
    }
    outputs->ptr = grown;
    outputs->cap = cap;
    return true;
}

/* Fills the target of a new output; false when out of memory. */
static bool set_target(sluice_output_t *output, const char *target) {
    output->target.is_some = target != NULL;
    output->target.val.ptr = NULL;
    output->target.val.len = 0;
    return target == NULL || sluice_string_copy(&output->target.val, target);
}

bool sluice_outputs_move(sluice_outputs_t *outputs, sluice_record_t *record, const char *target) {
    if (!sluice_outputs_reserve(outputs, 1)) {
        return false;
    }
    sluice_output_t *output = &outputs->ptr[outputs->len];
    if (!set_target(output, target)) {
        return false;
    }
    output->record = *record;
    memset(record, 0, sizeof *record);
    outputs->len++;
    return true;
}

bool sluice_outputs_copy(sluice_outputs_t *outputs, const sluice_record_t *record, const char *target) {
    if (!sluice_outputs_reserve(outputs, 1)) {
        return false;
    }
    sluice_output_t *output = &outputs->ptr[outputs->len];
    if (!set_target(output, target)) {
        return false;
    }
    if (!sluice_record_copy(&output->record, record)) {
        transform_option_string_free(&output->target);
        return false;
    }
    outputs->len++;
    return true;
}

void sluice_outputs_free(sluice_outputs_t *outputs) {
    for (size_t i = 0; i < outputs->len; i++) {
        sluice_pipeline_types_output_free(&outputs->ptr[i]);
    }
    free(outputs->ptr);
    outputs->ptr = NULL;
    outputs->len = 0;
    outputs->cap = 0;
}
